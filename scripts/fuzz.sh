#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_targets) for FUZZ_SECONDS (default 60) each, starting
# from the committed seeds plus what earlier runs found. A finding is an input that panics,
# takes over 5 s (-timeout) or 2 GB (-rss_limit_mb); libFuzzer leaves it in
# fuzz/artifacts/<target>/. Commit it with the fix: `cargo test` (tests/fuzz_regressions.rs)
# replays every seed and finding through its target from then on.
# The run fails if the committed findings still fail, if the targets do not build, or if
# any target ends with anything but a clean exit (a crash, a timeout, an out-of-memory
# kill, a signal), artifact or not. Every target runs before it fails.
# FUZZ_TARGETS="names ranges" runs only those.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
# Old findings first: each must pass its target now.
cargo test --quiet --test fuzz_regressions
cd fuzz
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
# libFuzzer needs a nightly compiler; without one, stable is told to allow nightly flags.
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  fuzz() { cargo +nightly fuzz "$@"; }
else
  fuzz() { RUSTC_BOOTSTRAP=1 cargo fuzz "$@"; }
fi
fuzz build
logs=$(mktemp -d)
failed=()
for target in ${FUZZ_TARGETS:-$(fuzz list)}; do
  mkdir -p "corpus/$target" "artifacts/$target"
  if [ -d "seeds/$target" ]; then cp -n "seeds/$target"/* "corpus/$target/"; fi
  echo "fuzz: $target for ${seconds}s"
  status=0
  fuzz run "$target" "corpus/$target" -- -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=5 -max_len=65536 \
    >"$logs/$target" 2>&1 || status=$?
  grep -E -A1 '^(Done|SUMMARY)|panicked|ERROR' "$logs/$target" || true
  if [ "$status" -ne 0 ]; then
    echo "fuzz: $target failed (exit $status); the end of its output:" >&2
    tail -n 20 "$logs/$target" >&2
    failed+=("$target")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failed: ${failed[*]} (findings, if any, in fuzz/artifacts/)" >&2
  exit 1
fi
echo "fuzz: no findings"
