#!/usr/bin/env bash
# Runs every test of Tandem, installing what it needs first. .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

step() { printf '\n==> %s\n' "$*"; }

step "formatting"
cargo fmt --all -- --check
step "lints"
cargo clippy --workspace --all-targets -- -D warnings
step "the core stays pure: it builds for WebAssembly"
cargo build -p tandem-core --target wasm32-unknown-unknown
step "tests"
cargo test --workspace
