#!/usr/bin/env bash
# Cached week reads of two builds of booket, side by side in the same run (the machines are
# noisy, so a change is judged against its parent measured minutes apart, not days):
#   bash bench/ab.sh <old booket binary> <new booket binary> [rounds]
# e.g. build the parent with `git worktree add /tmp/old <commit>` and
# `CARGO_TARGET_DIR=$PWD/target cargo build --release -p server --bin booket` there, copying
# target/release/booket aside before building the new one. Prints new/old per round and the
# median at 50 and 500 clients. Loopback only; needs wrk and a built dist/. BENCH_FORM=full
# reads a week without a free slot instead (bench/booket.bench.toml); BENCH_CEILING=1 reads
# past the calendar's read ceiling (below).
set -euo pipefail
cd "$(dirname "$0")/.."
OLD=$1 NEW=$2 ROUNDS=${3:-5}
. bench/env.sh
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
wait_port() { for _ in $(seq 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "ab: $1 did not come up" >&2; exit 1; }
# (Graph calendars only: builds before the EWS backend do not read an EWS calendar.)
sed '/^# The same bookings on an on-premises/,$d' bench/booket.bench.toml > "$tmp/old.toml"
# BENCH_CEILING=1: both past their read ceiling (nothing cached, one read a minute), so every
# read after a minute's first is served from the week's last good read, marked stale.
if [ -n "${BENCH_CEILING:-}" ]; then
  sed -i 's/^cache_ttl_seconds = .*/cache_ttl_seconds = 0\nmax_reads_per_minute = 1/' "$tmp/old.toml"
fi
sed 's/127.0.0.1:4100/127.0.0.1:4103/' "$tmp/old.toml" > "$tmp/new.toml"
"$NEW" sim --listen 127.0.0.1:4101 >/dev/null & pids+=($!)
wait_port http://127.0.0.1:4101/_sim/state
"$OLD" serve --config "$tmp/old.toml" --assets dist >/dev/null & pids+=($!)
"$NEW" serve --config "$tmp/new.toml" --assets dist >/dev/null & pids+=($!)
wait_port http://127.0.0.1:4100/metrics
wait_port http://127.0.0.1:4103/metrics
week=$(python3 -c "from datetime import date,timedelta; d=date.today(); print(d-timedelta(days=d.weekday())+timedelta(weeks=1))")
rps() { BENCH_WEEK=$week wrk -t2 -c"$2" -d4s -s bench/week.lua "$1/api/week" 2>/dev/null | awk '/Requests\/sec/{print $2}'; }
for c in 50 500; do
  ratios=()
  for i in $(seq "$ROUNDS"); do
    o=$(rps http://127.0.0.1:4100 "$c"); n=$(rps http://127.0.0.1:4103 "$c")
    ratios+=("$(python3 -c "print($n/$o)")")
    echo "$c clients, round $i: old $o req/s, new $n req/s"
  done
  echo "$c clients: median new/old $(python3 -c "import statistics,sys; print(round(statistics.median(float(x) for x in sys.argv[1:]), 3))" "${ratios[@]}")"
done
