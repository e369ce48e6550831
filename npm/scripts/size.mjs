// Prints the gzipped size of what a browser downloads, against the 100 KB budget for the
// WebAssembly module and its wasm-bindgen glue: the module; the module with the glue minified, as
// browsers get it (inside dist/tandem.min.js) — the figure the budget is checked on; the module
// with the glue as generated; and the module with the whole package as shipped to browsers
// (dist/tandem.min.js: the package and the glue, bundled and minified). Over budget it fails, and
// with it the build and the test command.
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

import { transformSync } from 'esbuild';

const root = new URL('..', import.meta.url);
const read = (file) => readFileSync(new URL(file, root));
const gz = (bytes) => gzipSync(bytes, { level: 9 }).length;
const kb = (n) => (n / 1024).toFixed(1);

const wasm = read('wasm/tandem_bg.wasm');
const glue = read('wasm/tandem.js');
const minifiedGlue = transformSync(glue.toString(), { minify: true, format: 'esm' }).code;
const bundle = read('dist/tandem.min.js');
const budgeted = gz(wasm) + gz(minifiedGlue);
console.log(
  `size: wasm ${kb(wasm.length)} KB (${kb(gz(wasm))} KB gzipped); ` +
    `wasm + glue ${kb(budgeted)} KB gzipped (glue minified as shipped; ${kb(gz(wasm) + gz(glue))} KB as generated); ` +
    `wasm + the whole package minified ${kb(wasm.length + bundle.length)} KB, ${kb(gz(wasm) + gz(bundle))} KB gzipped ` +
    `(budget 100 KB for wasm + glue)`,
);
if (budgeted > 100 * 1024) {
  console.error(`size: OVER the 100 KB gzipped budget by ${kb(budgeted - 100 * 1024)} KB`);
  process.exit(1);
}
