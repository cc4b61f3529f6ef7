#!/usr/bin/env bash
# Builds the Worker into build/ (index.js + wasm) with worker-build, using local tools only.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
wasm_env
export WASM_BINDGEN_BIN="$CARGO_HOME/bin/wasm-bindgen"
export WASM_OPT_BIN="$PWD/node_modules/.bin/wasm-opt"
export ESBUILD_BIN="$PWD/node_modules/@esbuild/linux-x64/bin/esbuild"
exec "$CARGO_HOME/bin/worker-build" --release
