/** Loads the WebAssembly engine once, in browsers (fetch) and in Node (the file system). */
import init, { initSync, Engine, lastPanic } from '../wasm/tandem.js';

export { Engine, lastPanic };

let ready: Promise<void> | undefined;

/** Resolves once the engine module is instantiated. */
export function loadWasm(): Promise<void> {
  ready ??= (async () => {
    const url = new URL('../wasm/tandem_bg.wasm', import.meta.url);
    const isNode = typeof process !== 'undefined' && !!process.versions?.node;
    if (isNode && url.protocol === 'file:') {
      const fsModule = 'node:fs/promises';
      const fs = (await import(/* @vite-ignore */ fsModule)) as typeof import('node:fs/promises');
      initSync({ module: await fs.readFile(url) });
    } else {
      await init({ module_or_path: url });
    }
  })();
  return ready;
}
