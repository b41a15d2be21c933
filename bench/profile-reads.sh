#!/usr/bin/env bash
# Where the time of a cached week read goes (issue 26.4): `booket serve` under wrk at 50
# clients on /api/week (as in bench/run.sh), sampled by `perf record -e cpu-clock -g` (the
# machines have no hardware counters; the software clock works), and the top entries by
# shared object and by symbol written to bench/profile-reads.md.
#   bash bench/profile-reads.sh [seconds]   (default 8)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-8}
need=()
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v perf >/dev/null 2>&1 || need+=(linux-perf)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
scripts/setup.sh --build
scripts/build.sh --release
. bench/env.sh
tmp=$(mktemp -d); pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
wait_port() { for _ in $(seq 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "profile: $1 did not come up" >&2; exit 1; }
target/release/booket sim --listen 127.0.0.1:4101 >/dev/null & pids+=($!)
wait_port http://127.0.0.1:4101/_sim/state
target/release/booket serve --config bench/booket.bench.toml --assets dist >/dev/null & srv=$!; pids+=($srv)
wait_port http://127.0.0.1:4100/metrics
week=$(python3 -c "from datetime import date,timedelta; d=date.today(); print(d-timedelta(days=d.weekday())+timedelta(weeks=1))")
curl -s -o /dev/null -X POST -d "form=plain&element=tid&week=$week" http://127.0.0.1:4100/api/week
BENCH_WEEK=$week wrk -t2 -c50 -d$((SECS + 4))s -s bench/week.lua http://127.0.0.1:4100/api/week > "$tmp/wrk.txt" 2>&1 & pids+=($!)
sleep 2
perf record -q -F 999 -e cpu-clock -g -p "$srv" -o "$tmp/perf.data" -- sleep "$SECS" >/dev/null 2>&1
wait "${pids[-1]}" || true
top() { { perf report -i "$tmp/perf.data" --no-children --stdio -g none "$@" 2>/dev/null | grep '%' | sed 's/  */ /g; s/ - - *$//' | head -"${N:-15}"; } || true; }
{
  echo "# Where a cached week read's time goes (bench/profile-reads.sh)"
  echo
  echo "Commit $(git rev-parse --short HEAD), $(date -u +%Y-%m-%dT%H:%MZ), wrk 50 clients on /api/week, perf cpu-clock ${SECS} s,"
  echo "$(grep -m1 'Requests/sec' "$tmp/wrk.txt" | sed 's/  */ /g')."
  echo
  echo "By shared object:"
  echo '```'; N=5 top --sort dso; echo '```'
  echo "By symbol (all objects):"
  echo '```'; N=20 top --sort dso,symbol; echo '```'
  echo "Booket's own binary, by symbol:"
  echo '```'; N=20 top --dsos booket --sort symbol; echo '```'
} | tee bench/profile-reads.md
