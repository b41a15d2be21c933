#!/usr/bin/env bash
# Fuzzes the parsers of what browsers send (fuzz/fuzz_targets/*.rs) with cargo fuzz and
# libFuzzer on stable Rust (no sanitizer, which would need nightly; debug assertions on).
#   scripts/fuzz.sh            every target for FUZZ_SECONDS (default 30) each
#   scripts/fuzz.sh widget_json 600
# The corpus grows in target/fuzz/corpus/<target>; fuzz/seeds/<target> holds the seeds.
# A failure leaves the input in target/fuzz/ and exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
seconds=${2:-${FUZZ_SECONDS:-30}}
targets=${1:-"client_input widget_json"}
flags=(-O -a -s none --target-dir target/fuzz)
cargo fuzz build "${flags[@]}"
for t in $targets; do
  mkdir -p "target/fuzz/corpus/$t"
  echo "== fuzz $t for ${seconds}s"
  status=0
  cargo fuzz run "${flags[@]}" "$t" "target/fuzz/corpus/$t" "fuzz/seeds/$t" -- \
    -max_total_time="$seconds" -max_len=4096 -artifact_prefix=target/fuzz/ \
    -print_final_stats=1 >"target/fuzz/$t.log" 2>&1 || status=$?
  # The full libFuzzer log stays in target/fuzz/<target>.log.
  grep -E "^(Done|stat::number_of_executed_units)|panicked|SUMMARY|Test unit written|left:|right:" \
    "target/fuzz/$t.log" || true
  [ "$status" -eq 0 ] || { echo "fuzz: $t failed (log and input in target/fuzz/)" >&2; exit 1; }
done
