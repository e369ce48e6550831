#!/usr/bin/env bash
# Sets up and runs Tandem. Until the relay lands this builds the core and runs its demo: three
# replicas edit one document concurrently through the relay's sequencer and converge.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
cargo run --release -p tandem-core --example demo
