#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_targets) for FUZZ_SECONDS (default 60) each, starting
# from the committed seeds plus what earlier runs found. A finding is an input that panics,
# takes over 5 s (-timeout) or 2 GB (-rss_limit_mb); libFuzzer leaves it in
# fuzz/artifacts/<target>/ to turn into a regression test. Every target runs; the script
# fails at the end if any of them found something new. FUZZ_TARGETS="names ranges" runs
# only those.
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
findings() { find "artifacts/$1" -type f 2>/dev/null | wc -l; }
fuzz build
failed=()
for target in ${FUZZ_TARGETS:-$(fuzz list)}; do
  mkdir -p "corpus/$target" "artifacts/$target"
  if [ -d "seeds/$target" ]; then cp -n "seeds/$target"/* "corpus/$target/"; fi
  before=$(findings "$target")
  echo "fuzz: $target for ${seconds}s"
  fuzz run "$target" "corpus/$target" -- -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=5 -max_len=65536 2>&1 \
    | grep -E -A1 '^(Done|SUMMARY)|panicked' || true
  if [ "$(findings "$target")" -gt "$before" ]; then
    echo "fuzz: $target found an input that fails, see fuzz/artifacts/$target/" >&2
    failed+=("$target")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: findings in ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: no findings"
