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
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
sum() { grep '^test result:' "$log" | grep -oE "[0-9]+ $1" | awk '{ n += $1 } END { print n + 0 }'; }
echo
echo "tests: $(sum passed) passed, $(sum failed) failed, $(sum ignored) skipped"
exit "$status"
