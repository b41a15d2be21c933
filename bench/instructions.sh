#!/usr/bin/env bash
# Instructions per cached week read (issue 26.4), counted rather than timed: `booket serve`
# and the bare axum handler of bench/baseline.rs each run under valgrind's callgrind while
# one keep-alive wrk client reads the same week for a few seconds; the counters are zeroed
# after warm-up and dumped after the load, so start-up is not counted. Callgrind counts the
# user-space instructions a request costs (not the kernel's work, not time), the same for
# the same binary and input whatever else the machine is doing — the part of a read's cost
# that the machine's noise cannot blur. Writes bench/instructions.md.
#   bash bench/instructions.sh [seconds]   (default 6)
#   BOOKET_BEFORE=/path/to/an/older/booket bash bench/instructions.sh   (adds its row)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-6}
need=()
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v valgrind >/dev/null 2>&1 || need+=(valgrind)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
scripts/setup.sh --build
scripts/build.sh --release
cargo build --locked --release -p server --example baseline
. bench/env.sh
tmp=$(mktemp -d); pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
wait_port() { for _ in $(seq 600); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "instructions: $1 did not come up" >&2; exit 1; }
week=$(python3 -c "from datetime import date,timedelta; d=date.today(); print(d-timedelta(days=d.weekday())+timedelta(weeks=1))")

target/release/booket sim --listen 127.0.0.1:4101 >/dev/null & pids+=($!)
wait_port http://127.0.0.1:4101/_sim/state

# count NAME PORT COMMAND…: prints "requests instructions" for the load, from callgrind.
count() {
  local name=$1 port=$2; shift 2
  valgrind --tool=callgrind --callgrind-out-file="$tmp/$name.out" "$@" >/dev/null 2>&1 &
  local vg=$!; pids+=("$vg")
  wait_port "http://127.0.0.1:$port/"
  for _ in 1 2 3; do
    curl -s -o "$tmp/$name.body" -X POST -d "form=plain&element=tid&week=$week" "http://127.0.0.1:$port/api/week"
  done
  callgrind_control -z "$vg" >/dev/null 2>&1
  local n
  n=$(BENCH_WEEK=$week wrk -t1 -c1 -d"${SECS}s" -s bench/week.lua "http://127.0.0.1:$port/api/week" |
    awk '/requests in/{print $1}')
  callgrind_control -d "$vg" >/dev/null 2>&1
  kill "$vg"; wait "$vg" 2>/dev/null || true
  local total
  total=$(callgrind_annotate "$tmp/$name.out.1" 2>/dev/null | awk '/PROGRAM TOTALS/{gsub(",","",$1); print $1}')
  echo "$n $total"
}

read -r bn bi < <(count booket 4100 target/release/booket serve --config bench/booket.bench.toml --assets dist)
before=""
if [ -n "${BOOKET_BEFORE:-}" ]; then
  read -r pn pi < <(count before 4100 "$BOOKET_BEFORE" serve --config bench/booket.bench.toml --assets dist)
  before="| an older build (\`$(basename "$BOOKET_BEFORE")\`) | $pn | $((pi / pn)) |"
fi
# The baseline answers a body of the size of Booket's week answer, as in bench/run.sh.
body_bytes=$(wc -c < "$tmp/booket.body")
read -r an ai < <(count bare 4102 target/release/examples/baseline --listen 127.0.0.1:4102 --bytes "$body_bytes")
{
  echo "# Instructions per cached week read (bench/instructions.sh)"
  echo
  echo "Commit $(git rev-parse --short HEAD), $(date -u +%Y-%m-%dT%H:%MZ), callgrind, one keep-alive client, ${SECS} s each."
  echo
  echo "| server | reads counted | instructions per read |"
  echo "|---|---|---|"
  echo "| Booket (\`booket serve\`, bench/booket.bench.toml) | $bn | $((bi / bn)) |"
  [ -z "$before" ] || echo "$before"
  echo "| bare axum handler (bench/baseline.rs) | $an | $((ai / an)) |"
  echo
  echo "Booket spends $(python3 -c "print(f'{($bi / $bn) / ($ai / $an):.2f}')") times the bare handler's user-space instructions per read."
} | tee bench/instructions.md
