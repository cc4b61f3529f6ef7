#!/usr/bin/env bash
# Installs whatever the build and the tests need and is missing; does nothing when all is
# there. Idempotent and quiet on a second run, so `make dev` starts in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

say() { echo "setup: $*" >&2; }

# --- Debian packages: the wasm toolchain (where rustup has no wasm32 target) and the test clients.
apt_pkgs=()
if ! rustup_wasm; then
  for p in rustc-web cargo-web rust-web-src lld-22; do dpkg -s "$p" >/dev/null 2>&1 || apt_pkgs+=("$p"); done
fi
for p in skopeo podman containerd python3-venv; do dpkg -s "$p" >/dev/null 2>&1 || apt_pkgs+=("$p"); done
if [ ${#apt_pkgs[@]} -gt 0 ]; then
  say "installing ${apt_pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${apt_pkgs[@]}" >/dev/null
fi

# --- Cargo tools, pinned to the versions Cargo.lock uses.
need_tool() { # name version-string
  "$CARGO_HOME/bin/$1" --version 2>/dev/null | grep -qF "$2"
}
if ! need_tool worker-build "$WORKER_BUILD_VERSION"; then
  say "installing worker-build $WORKER_BUILD_VERSION (a few minutes)"
  cargo install --locked --quiet worker-build --version "$WORKER_BUILD_VERSION"
fi
if ! need_tool wasm-bindgen "$WASM_BINDGEN_VERSION"; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes)"
  # Not --locked: its lock names a crate version the index no longer has.
  cargo install --quiet wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi

# --- wrangler, workerd, esbuild and wasm-opt from npm, exactly as locked.
if [ ! -x node_modules/.bin/wrangler ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
fi

# --- Crates for native and wasm builds (build-std's own crates included), so builds run offline.
stamp=target/.fetched
if [ ! -f "$stamp" ] || [ Cargo.lock -nt "$stamp" ]; then
  say "fetching crates"
  cargo fetch --quiet
  if ! rustup_wasm; then
    (wasm_env; cargo fetch --quiet --target wasm32-unknown-unknown)
  fi
  mkdir -p target && touch "$stamp"
fi

# --- Python for the end-to-end tests: pytest, requests and the oras client library.
if [ ! -x "$VENV/bin/pytest" ] || [ tests/e2e/requirements.txt -nt "$VENV/.installed" ]; then
  say "creating the test venv in $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet -r tests/e2e/requirements.txt
  touch "$VENV/.installed"
fi
