// Prints the gzipped size of what a browser downloads, against the 100 KB budget: the
// WebAssembly module, the module with the wasm-bindgen glue, and the module with the whole
// package as shipped to browsers (dist/tandem.min.js: the package and the glue, bundled and
// minified). Over budget it says so; it fails only with TANDEM_SIZE_STRICT=1 (the budget is not
// met yet: see README.md).
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

const root = new URL('..', import.meta.url);
const read = (file) => readFileSync(new URL(file, root));
const gz = (bytes) => gzipSync(bytes, { level: 9 }).length;
const kb = (n) => (n / 1024).toFixed(1);

const wasm = read('wasm/tandem_bg.wasm');
const glue = read('wasm/tandem.js');
const bundle = read('dist/tandem.min.js');
const total = gz(wasm) + gz(bundle);
console.log(
  `size: wasm ${kb(wasm.length)} KB (${kb(gz(wasm))} KB gzipped); ` +
    `wasm + glue ${kb(gz(wasm) + gz(glue))} KB gzipped; ` +
    `wasm + the whole package minified ${kb(wasm.length + bundle.length)} KB, ${kb(total)} KB gzipped ` +
    `(budget 100 KB)`,
);
if (total > 100 * 1024) {
  console.error(`size: OVER the 100 KB gzipped budget by ${kb(total - 100 * 1024)} KB`);
  if (process.env.TANDEM_SIZE_STRICT === '1') process.exit(1);
}
