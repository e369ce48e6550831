#!/usr/bin/env bash
# Builds the demo (www/) with Vite into www/dist, which the relay serves at `/`. It uses the npm
# package from ../npm, so scripts/build-wasm.sh runs first.
set -euo pipefail
cd "$(dirname "$0")/../www"
[ -d node_modules ] || npm ci --no-audit --no-fund
node_modules/.bin/vite build --logLevel warn
