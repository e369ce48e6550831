#!/usr/bin/env bash
# Installs what building and testing Tandem needs on a fresh machine. Safe to run again: every
# step checks first. Sourced by scripts/run.sh and scripts/test.sh.
set -euo pipefail

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo is missing; install Rust 1.95.0 with rustup first" >&2
  exit 1
fi
# The toolchain is pinned by rust-toolchain.toml; make sure its WebAssembly target is there
# (the core must build for it, and the client will be compiled to it).
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi
