#!/usr/bin/env bash
# Sets up and runs Tandem: builds the relay and starts it on 127.0.0.1:8080 with the embedded
# store in ./tandem-data, serving the demo (www/) at http://127.0.0.1:8080/. Extra arguments go
# to the relay (see `tandem-relay --help`); every flag is also an environment variable.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
# The WebAssembly client and the npm package the demo uses.
scripts/build-wasm.sh
exec cargo run --release -p tandem-relay --bin tandem-relay -- "$@"
