#!/usr/bin/env bash
# Sets up and runs Tandem: builds the package, the demo (www/, into www/dist) and the relay, and
# starts the relay on 127.0.0.1:8080 with the embedded store in ./tandem-data, serving the demo
# at http://127.0.0.1:8080/?doc=welcome. Extra arguments go
# to the relay (see `tandem-relay --help`); every flag is also an environment variable.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
# The WebAssembly client and the npm package, then the demo that uses them.
scripts/build-wasm.sh
scripts/build-www.sh
exec cargo run --release -p tandem-relay --bin tandem-relay -- "$@"
