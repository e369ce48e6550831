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

# wasm-bindgen's CLI must be exactly the version of the `wasm-bindgen` crate pinned in
# client-wasm/Cargo.toml (it also brings wasm-bindgen-test-runner).
WASM_BINDGEN_VERSION=$(sed -n 's/^wasm-bindgen = "=\(.*\)"/\1/p' client-wasm/Cargo.toml)
if [ "$(wasm-bindgen --version 2>/dev/null | cut -d' ' -f2)" != "$WASM_BINDGEN_VERSION" ]; then
  # Not --locked: the CLI's own lock file pins a webpki-roots release that crates.io yanked.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi

# Node.js 20+ and npm build and test the npm package.
if ! command -v npm >/dev/null 2>&1; then
  echo "setup: Node.js 20+ with npm is missing" >&2
  exit 1
fi
# The package's dependencies, exactly as locked (TypeScript, binaryen's wasm-opt, ws,
# playwright-core; playwright-core never downloads a browser).
if [ ! -d npm/node_modules ] || [ npm/package-lock.json -nt npm/node_modules/.package-lock.json ]; then
  (cd npm && npm ci --no-audit --no-fund)
fi

# Debian's Chromium for the browser tests (never a downloaded browser).
if [ ! -x /usr/bin/chromium ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi

# Debian's PostgreSQL server binaries for the PostgreSQL store's tests, which start their own
# throwaway server on loopback (relay/src/store/local_postgres.rs). No system cluster: the
# package is told not to create its default one (`pg_createcluster 15 main --start` makes one
# later if this machine should also serve a relay's database).
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  if [ ! -e /etc/postgresql-common/createcluster.d/tandem.conf ]; then
    $SUDO mkdir -p /etc/postgresql-common/createcluster.d
    echo "create_main_cluster = false" | $SUDO tee /etc/postgresql-common/createcluster.d/tandem.conf >/dev/null
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
fi
