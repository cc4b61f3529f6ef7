#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_targets) for FUZZ_SECONDS (default 60) each, starting
# from the committed seeds plus what earlier runs found; fails on the first finding, which
# libFuzzer leaves in fuzz/artifacts/<target>/ to turn into a regression test. An input
# that takes over 5 s (-timeout) or 2 GB (-rss_limit_mb) counts as a finding too.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${FUZZ_SECONDS:-60}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
# libFuzzer needs a nightly compiler; without one, stable is told to allow nightly flags.
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  fuzz() { cargo +nightly fuzz "$@"; }
else
  fuzz() { RUSTC_BOOTSTRAP=1 cargo fuzz "$@"; }
fi
fuzz build
for target in $(fuzz list); do
  mkdir -p "corpus/$target"
  if [ -d "seeds/$target" ]; then cp -n "seeds/$target"/* "corpus/$target/"; fi
  echo "fuzz: $target for ${seconds}s"
  fuzz run "$target" "corpus/$target" -- -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=5 -max_len=65536 2>&1 \
    | grep -E '^(Done|INFO: -max_total_time|==[0-9]+==|SUMMARY|.*panicked)' || true
  [ ! -d "artifacts/$target" ] || [ -z "$(ls -A "artifacts/$target")" ] || { echo "fuzz: $target found a crash" >&2; exit 1; }
done
