#!/usr/bin/env bash
# Builds the WebAssembly client engine into npm/wasm/ and prints its size: cargo (wasm32), then
# wasm-bindgen (the CLI pinned to the crate's version), then wasm-opt from the npm `binaryen`
# package (never Debian's old one), then the npm package's TypeScript, then the minified browser
# bundle (esbuild) that the package's `browser` export points at.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build -p tandem-client-wasm --target wasm32-unknown-unknown --profile wasm-release
rm -rf npm/wasm
wasm-bindgen --target web --out-dir npm/wasm --out-name tandem \
  target/wasm32-unknown-unknown/wasm-release/tandem_client_wasm.wasm
(cd npm && [ -d node_modules ] || npm ci --no-audit --no-fund)
# -O2 without inlining functions into their one caller: at -Oz every export's body was inlined
# into its wasm-bindgen shim, and those bodies compressed far worse (7 KB more gzipped; README).
npm/node_modules/.bin/wasm-opt -O2 --one-caller-inline-max-function-size=10 --converge --strip-debug --strip-producers --enable-bulk-memory --enable-nontrapping-float-to-int \
  --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
  npm/wasm/tandem_bg.wasm -o npm/wasm/tandem_bg.wasm
(cd npm && node_modules/.bin/tsc -p tsconfig.json)
# The browser build: the package and the wasm-bindgen glue in one minified module (Node's
# optional imports stay dynamic). It sits in dist/, so `../wasm/tandem_bg.wasm` still resolves.
(cd npm && node_modules/.bin/esbuild dist/index.js --bundle --format=esm --minify --log-level=warning \
  --external:ws --outfile=dist/tandem.min.js)
node npm/scripts/size.mjs
