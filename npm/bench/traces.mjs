// Replays the editing traces (core/benches/data, the same as ../shared/traces) through the
// public npm API in Node, each patch one call on a RealTimeString of a model opened on a real
// relay (started here on loopback, release build), and prints:
//   (a) patches per second until every patch is applied locally (the JS-to-wasm boundary
//       included), and the ratio to the native core doing the same in the same run
//       (`cargo run --release -p tandem-core --example replay`);
//   (b) patches per second until the relay has acknowledged all of them;
//   the memory an open model holding the trace's final text takes (the engine's estimate).
// Run with `TANDEM_RELAY_BIN=../target/release/tandem-relay node bench/traces.mjs` (after
// scripts/build-wasm.sh and `cargo build --release -p tandem-relay`).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

import { connect } from '../dist/index.js';
import { startRelay } from '../test/relay.mjs';

const TRACES = ['rustcode', 'sveltecomponent'];
const ROOT = new URL('../../', import.meta.url);
// Runs per trace; the first WARMUP are not counted (the JIT is still compiling then).
const RUNS = 11;
const WARMUP = 3;

function load(name) {
  const data = JSON.parse(gunzipSync(readFileSync(new URL(`core/benches/data/${name}.json.gz`, ROOT))));
  const patches = data.txns.flatMap((t) => t.patches);
  // The traces hold no characters outside the BMP, so code points are UTF-16 positions.
  if (/[\u{10000}-\u{10FFFF}]/u.test(data.endContent + patches.map((p) => p[2]).join(''))) {
    throw new Error(`${name}: astral characters need position conversion`);
  }
  return { name, start: data.startContent, end: data.endContent, patches };
}

function native() {
  const out = execFileSync('cargo', ['run', '--release', '-q', '-p', 'tandem-core', '--example', 'replay'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  return Object.fromEntries(out.trim().split('\n').map((l) => l.split(' ')).map(([n, r]) => [n, Number(r)]));
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (n) => Math.round(n).toLocaleString('en-US');

const relay = await startRelay({
  env: { TANDEM_RATE_LIMIT: '1000000', TANDEM_RATE_BURST: '1000000' },
});
try {
  const nativeRates = native();
  const session = await connect(relay.url, { anonymous: 'bench' }, { storage: false });
  for (const trace of TRACES.map(load)) {
    const local = [];
    const acked = [];
    let memory;
    for (let run = 0; run < RUNS; run++) {
      const model = await session.openOrCreate('bench', `${trace.name}-${run}-${Date.now()}`, { text: trace.start });
      const text = model.elementAt('text');
      const started = performance.now();
      for (const [pos, del, ins] of trace.patches) {
        if (del > 0) text.remove(pos, del);
        if (ins.length > 0) text.insert(pos, ins);
      }
      // A read of the text: every edit has reached the engine (typing waits in the package's
      // write buffer until something needs the engine) and is applied there.
      const final = text.value();
      const applied = performance.now();
      if (final !== trace.end) throw new Error(`${trace.name}: wrong final text`);
      await model.settled();
      const done = performance.now();
      if (text.value() !== trace.end) throw new Error(`${trace.name}: wrong final text`);
      if (run >= WARMUP) {
        local.push(trace.patches.length / ((applied - started) / 1000));
        acked.push(trace.patches.length / ((done - started) / 1000));
      }
      memory = { model: model.memoryUsage, text: trace.end.length };
      await model.close();
    }
    const a = median(local);
    console.log(
      `${trace.name} (${fmt(trace.patches.length)} patches): (a) applied locally ${fmt(a)} patches/s ` +
        `(native core ${fmt(nativeRates[trace.name])}/s, wasm at ${(a / nativeRates[trace.name]).toFixed(2)}x); ` +
        `(b) acknowledged by the relay ${fmt(median(acked))} patches/s; ` +
        `open model ${fmt(memory.model)} bytes for ${fmt(memory.text)} characters (${(memory.model / memory.text).toFixed(2)}x)`,
    );
  }
  await session.disconnect();
} finally {
  await relay.close();
}
