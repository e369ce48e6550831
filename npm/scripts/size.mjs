// Prints the gzipped size of what a browser downloads: the WebAssembly module and the JS (the
// wasm-bindgen glue and the package's own modules), against the 100 KB budget. Over budget it
// says so; it fails only with TANDEM_SIZE_STRICT=1 (the budget is not met yet: see README.md).
import { readFileSync, readdirSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

const root = new URL('..', import.meta.url);
const files = [
  'wasm/tandem_bg.wasm',
  'wasm/tandem.js',
  ...readdirSync(new URL('dist', root)).filter((f) => f.endsWith('.js') && f !== 'node.js').map((f) => `dist/${f}`),
];
let raw = 0;
let gzipped = 0;
for (const file of files) {
  const bytes = readFileSync(new URL(file, root));
  raw += bytes.length;
  gzipped += gzipSync(bytes, { level: 9 }).length;
}
const wasm = readFileSync(new URL('wasm/tandem_bg.wasm', root));
const kb = (n) => (n / 1024).toFixed(1);
console.log(
  `size: wasm ${kb(wasm.length)} KB (${kb(gzipSync(wasm, { level: 9 }).length)} KB gzipped); ` +
    `wasm + JS ${kb(raw)} KB, ${kb(gzipped)} KB gzipped (budget 100 KB)`,
);
if (gzipped > 100 * 1024) {
  console.error(`size: OVER the 100 KB gzipped budget by ${kb(gzipped - 100 * 1024)} KB`);
  if (process.env.TANDEM_SIZE_STRICT === '1') process.exit(1);
}
