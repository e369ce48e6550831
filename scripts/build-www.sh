#!/usr/bin/env bash
# Builds the demo (www/) with Vite into www/dist, which the relay serves at `/`. It uses the npm
# package from ../npm, so scripts/build-wasm.sh runs first.
set -euo pipefail
cd "$(dirname "$0")/../www"
# `npm install`, not `npm ci`: the registry lacks some of rollup's optional per-platform
# packages, so the lockfile cannot list them and `npm ci` would refuse it; with the lockfile as
# it is, `npm install` installs exactly the locked versions and leaves the lockfile alone.
[ -d node_modules ] || npm install --no-audit --no-fund
node_modules/.bin/vite build --logLevel warn
