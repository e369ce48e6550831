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
cargo clippy -p tandem-core --no-default-features --all-targets -- -D warnings
step "the core stays pure: it builds for WebAssembly"
cargo build -p tandem-core --target wasm32-unknown-unknown
step "the WebAssembly client and the npm package (with its gzipped size)"
scripts/build-wasm.sh
step "the run command builds the demo and starts the relay (scripts/run.sh --help)"
scripts/run.sh --help >/dev/null
step "tests"
log=$(mktemp)
nodelog=$(mktemp)
systemlog=$(mktemp)
trap 'rm -f "$log" "$nodelog" "$systemlog"' EXIT
set +e
cargo test --workspace 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
step "the core again as the WebAssembly client builds it (strings in the gap buffer)"
cargo test -p tandem-core --no-default-features 2>&1 | tee -a "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
step "npm package tests (Node and headless Chromium, against real relays)"
cargo build -p tandem-relay --bin tandem-relay
(cd npm && node --test --test-concurrency=1 --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$nodelog" test/*.test.mjs)
node_status=$?
step "whole-system tests (tests/: real relays, the built package, Chromium tabs; every edit exactly once)"
node --test --test-concurrency=1 --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$systemlog" tests/*.test.mjs
system_status=$?
set -e
sum() { grep '^test result:' "$log" | grep -oE "[0-9]+ $1" | awk '{ n += $1 } END { print n + 0 }'; }
node_sum() { sed -n "s/^# $1 \([0-9]*\)$/\1/p" "$nodelog" "$systemlog" | awk '{ n += $1 } END { print n + 0 }'; }
passed=$(( $(sum passed) + $(node_sum pass) ))
failed=$(( $(sum failed) + $(node_sum fail) + $(node_sum cancelled) ))
skipped=$(( $(sum ignored) + $(node_sum skipped) + $(node_sum todo) ))
echo
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ "$status" -eq 0 ] && [ "$node_status" -eq 0 ] && [ "$system_status" -eq 0 ]
