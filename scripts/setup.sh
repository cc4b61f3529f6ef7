#!/usr/bin/env bash
# Installs whatever the build and the tests need and is missing; does nothing when all is
# there (a fraction of a second), so `make dev` and `make test` can call it every time.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

say() { echo "setup: $*" >&2; }

# --- Debian packages: the wasm toolchain (only where rustup has no wasm32 target) and the
# clients the end-to-end tests drive. `apt-get update` only when something is missing.
apt_pkgs=()
if ! rustup_wasm; then
  for p in rustc-web cargo-web rust-web-src lld-22; do dpkg -s "$p" >/dev/null 2>&1 || apt_pkgs+=("$p"); done
fi
# chromium + chromium-driver: the package pages are checked in a real headless browser.
# docker.io: a private Docker Engine for the tests (its own socket, never the system's);
# jq: the README's session, which a test runs as written, uses it.
for p in skopeo podman containerd curl jq python3-venv chromium chromium-driver docker.io; do dpkg -s "$p" >/dev/null 2>&1 || apt_pkgs+=("$p"); done
if [ ${#apt_pkgs[@]} -gt 0 ]; then
  say "installing ${apt_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${apt_pkgs[@]}" >/dev/null
fi

# wrangler 4.86 needs Node 20 (4.87+ needs 22); Debian's own nodejs is 18, so don't guess.
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  say "Node.js >= 20 is required for wrangler (found: $(node -v 2>/dev/null || echo none))"
  exit 1
fi

# --- Cargo tools, pinned to the versions Cargo.lock uses (worker, wasm-bindgen).
has_tool() { # name version-string
  "$CARGO_HOME/bin/$1" --version 2>/dev/null | grep -qF "$2"
}
if ! has_tool worker-build "$WORKER_BUILD_VERSION"; then
  say "installing worker-build $WORKER_BUILD_VERSION (a few minutes)"
  cargo install --locked --quiet worker-build --version "$WORKER_BUILD_VERSION"
fi
if ! has_tool wasm-bindgen "$WASM_BINDGEN_VERSION"; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes)"
  # Not --locked: its lock names a crate version the index no longer has.
  cargo install --quiet wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi

# --- wrangler (with workerd and esbuild) and binaryen's wasm-opt, exactly as locked.
# npm ci rewrites node_modules/.package-lock.json, so it is newer than the lock after a run.
if [ ! -x node_modules/.bin/wrangler ] || [ ! -x node_modules/.bin/wasm-opt ] \
   || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
fi

# --- Crates for native and wasm builds (build-std's own crates included), so later builds
# run offline. Redone only when Cargo.lock changes.
stamp=target/.fetched
if [ ! -f "$stamp" ] || [ Cargo.lock -nt "$stamp" ]; then
  say "fetching crates"
  cargo fetch --quiet
  if ! rustup_wasm; then
    (wasm_env; cargo fetch --quiet --target wasm32-unknown-unknown)
  fi
  mkdir -p target && touch "$stamp"
fi

# --- Python for the end-to-end tests (pytest, requests, the oras client library), in an
# ignored venv. Pins live in tests/e2e/requirements.txt; the fallback serves a tree
# without end-to-end tests yet.
req=tests/e2e/requirements.txt
if [ ! -x "$VENV/bin/pytest" ] || { [ -f "$req" ] && [ "$req" -nt "$VENV/.installed" ]; }; then
  say "creating the test venv in $VENV"
  python3 -m venv "$VENV"
  if [ -f "$req" ]; then
    "$VENV/bin/pip" install --quiet -r "$req"
  else
    "$VENV/bin/pip" install --quiet pytest requests oras
  fi
  touch "$VENV/.installed"
fi
