# Shared settings of the scripts: tool versions, paths, and the wasm toolchain choice.
# Sourced, not run.
WORKER_BUILD_VERSION=0.8.7
WASM_BINDGEN_VERSION=0.2.130
export CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}"
export PATH="$CARGO_HOME/bin:$PATH"
export WRANGLER_SEND_METRICS=false
# The test venv lives outside the repository's tracked files.
VENV="${VENV:-$PWD/.venv}"

# True when rustup has the wasm32 target: then the stable toolchain builds the Worker.
rustup_wasm() {
  command -v rustup >/dev/null 2>&1 && rustup target list --installed 2>/dev/null | grep -q '^wasm32-unknown-unknown$'
}

# Without rustup's target, build std from source with Debian's rustc-web. These variables
# would break native `cargo test`, so they are set only in a subshell that calls this.
wasm_env() {
  if rustup_wasm; then return 0; fi
  local wrap="$PWD/target/rustc-wrap"
  mkdir -p "$wrap/empty-libdir"
  # worker-build refuses to build when rustc names no wasm32 libdir; build-std needs none.
  cat > "$wrap/rustc" <<WRAP
#!/bin/sh
case "\$*" in *"--print target-libdir"*) echo "$wrap/empty-libdir"; exit 0;; esac
exec /usr/bin/rustc "\$@"
WRAP
  chmod +x "$wrap/rustc"
  export PATH="$wrap:/usr/bin:$PATH"
  export RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 CARGO_UNSTABLE_BUILD_STD=std,panic_abort
}
