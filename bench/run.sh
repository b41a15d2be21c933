#!/usr/bin/env bash
# Booket's benchmarks (docs/contributors/benchmarks.md). Loopback only; every step is bounded in time (BENCH_SECONDS
# per load run, default 4; BENCH_ROUNDS alternations per read level, default 5). Prints a
# table and writes it to bench/results.md.
#   bash bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${BENCH_SECONDS:-4}

scripts/setup.sh --build
if ! command -v wrk >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq wrk >/dev/null
fi
scripts/build.sh --release
cargo build --locked --release -p server --example baseline
BIN=target/release/booket
BASELINE=target/release/examples/baseline
ulimit -n 65536 2>/dev/null || true

. bench/env.sh
SIM_URL=http://127.0.0.1:4101
URL=http://127.0.0.1:4100
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
wait_port() { for _ in $(seq 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "bench: $1 did not come up" >&2; exit 1; }

$BIN sim --listen 127.0.0.1:4101 >/dev/null & pids+=($!)
wait_port "$SIM_URL/_sim/state"
$BIN serve --config bench/booket.bench.toml --assets dist >/dev/null & SRV=$!; pids+=($SRV)
wait_port "$URL/metrics"

sim_stat() { curl -s "$SIM_URL/_sim/state" | python3 -c "import json,sys; s=json.load(sys.stdin)['stats']; print($1)"; }
rss_kb() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }
monday=$(python3 -c "from datetime import date,timedelta; d=date.today(); print(d-timedelta(days=d.weekday()))")
week_of() { python3 -c "from datetime import date,timedelta; print(date.fromisoformat('$monday')+timedelta(weeks=$1))"; }
wrk_run() { # url concurrency seconds week [script] -> "rps p50_ms p99_ms"
  threads=2; [ "$2" -lt 2 ] && threads=1
  BENCH_WEEK=$4 wrk -t"$threads" -c"$2" -d"$3"s --latency -s "${5:-bench/week.lua}" "$1/api/week" 2>/dev/null | python3 -c '
import re,sys
t=sys.stdin.read()
def ms(v,u): return float(v)*{"us":0.001,"ms":1,"s":1000}[u]
rps=float(re.search(r"Requests/sec:\s+([\d.]+)",t).group(1))
p50=re.search(r"50%\s+([\d.]+)(us|ms|s)",t); p99=re.search(r"99%\s+([\d.]+)(us|ms|s)",t)
errs=re.search(r"Non-2xx or 3xx responses: (\d+)",t)
print(f"{rps:.0f} {ms(*p50.groups()):.2f} {ms(*p99.groups()):.2f} {errs.group(1) if errs else 0}")'
}

# 1. What a citizen downloads.
# (size.sh fails over budget; the table is still printed and the run fails at the end.)
size_line=$( (scripts/size.sh || true) | grep "^total")
read -r _ raw gz br <<<"$size_line"
budget=$(cat bench/budget-bytes.txt)

# 3. Graph economy first, on weeks nobody has read yet: N concurrent viewers of one week.
economy=()
for n in 1 100 1000; do
  case $n in 1) w=1;; 100) w=2;; 1000) w=3;; esac
  before=$(sim_stat "s['calendar_view_requests']")
  wrk_run "$URL" "$n" 2 "$(week_of $w)" >/dev/null
  after=$(sim_stat "s['calendar_view_requests']")
  economy+=("$n:$((after - before))")
done
max_in_flight=$(sim_stat "max(s['max_in_flight'].values())")

# 2 + 5. Cached reads next to a bare axum handler with a body of the same size; memory.
body_bytes=$(curl -s -X POST -d "form=plain&element=tid&week=$(week_of 1)" "$URL/api/week" | wc -c)
$BASELINE --listen 127.0.0.1:4102 --bytes "$body_bytes" >/dev/null & pids+=($!)
wait_port http://127.0.0.1:4102/
rss_idle=$(rss_kb "$SRV")
reads=()
rss_peak=$rss_idle
# The machines are noisy: each level alternates Booket and the baseline ROUNDS times and
# reports medians, and the ratio is the median of the rounds' ratios.
ROUNDS=${BENCH_ROUNDS:-5}
col() { local i=$1; shift; for x in "$@"; do read -ra f <<<"$x"; echo "${f[$i]}"; done; } # field i of each "rps p50 p99 errors"
median() { python3 -c "import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))" "$@"; }
for c in 1 50 500; do
  bs=(); as=(); ratios=()
  for _ in $(seq "$ROUNDS"); do
    ( peak=0; for _ in $(seq $((DUR * 10))); do r=$(rss_kb "$SRV"); [ "$r" -gt "$peak" ] && peak=$r; sleep 0.1; done; echo "$peak" > /tmp/booket-rss-peak ) &
    sampler=$!
    b=$(wrk_run "$URL" "$c" "$DUR" "$(week_of 1)")
    wait "$sampler"
    p=$(cat /tmp/booket-rss-peak); [ "$p" -gt "$rss_peak" ] && rss_peak=$p
    a=$(wrk_run http://127.0.0.1:4102 "$c" "$DUR" "")
    bs+=("$b"); as+=("$a")
    ratios+=("$(python3 -c "print(${b%% *}/${a%% *})")")
  done
  b=$(printf '%.0f %s %s %s' "$(median $(col 0 "${bs[@]}"))" "$(median $(col 1 "${bs[@]}"))" "$(median $(col 2 "${bs[@]}"))" "$(python3 -c "import sys; print(int(sum(float(x) for x in sys.argv[1:])))" $(col 3 "${bs[@]}"))")
  a=$(printf '%.0f %s %s %s' "$(median $(col 0 "${as[@]}"))" "$(median $(col 1 "${as[@]}"))" "$(median $(col 2 "${as[@]}"))" 0)
  reads+=("$c|$b|$a|$(median "${ratios[@]}")")
done

# 2b. The same reads as a browser asks them (Accept-Encoding: gzip, bench/week-gzip.lua):
# Booket sends a kept week in the gzip made with it; the bare handler sends a fixed body of
# that size.
gzip_bytes=$(curl -s -X POST -H 'Accept-Encoding: gzip, deflate, br, zstd' -d "form=plain&element=tid&week=$(week_of 1)" "$URL/api/week" | wc -c)
$BASELINE --listen 127.0.0.1:4103 --bytes "$gzip_bytes" >/dev/null & pids+=($!)
wait_port http://127.0.0.1:4103/
# against BASELINE_URL CLIENTS SCRIPT: ROUNDS alternating runs of Booket (BENCH_FORM's week,
# "plain" unless set) and a bare handler; "clients|Booket's median|bare median|median ratio".
against() {
  local bs=() as=() ratios=() b a
  for _ in $(seq "$ROUNDS"); do
    b=$(wrk_run "$URL" "$2" "$DUR" "$(week_of 1)" "$3")
    a=$(wrk_run "$1" "$2" "$DUR" "" "$3")
    bs+=("$b"); as+=("$a")
    ratios+=("$(python3 -c "print(${b%% *}/${a%% *})")")
  done
  echo "$2|$(median $(col 0 "${bs[@]}"))|$(median $(col 0 "${as[@]}"))|$(median "${ratios[@]}")"
}
browser_reads=()
for c in 50 500; do
  browser_reads+=("$(against http://127.0.0.1:4103 "$c" bench/week-gzip.lua)")
done

# 2c. Reads of a week without a free slot, whose answer names the next week with one (the
# bench's "full" form: 14 days' notice): what every citizen reads once a week is gone.
full_bytes=$(curl -s -X POST -d "form=full&element=tid&week=$(week_of 1)" "$URL/api/week" | wc -c)
$BASELINE --listen 127.0.0.1:4104 --bytes "$full_bytes" >/dev/null & pids+=($!)
wait_port http://127.0.0.1:4104/
full_reads=()
for c in 50 500; do
  full_reads+=("$(BENCH_FORM=full against http://127.0.0.1:4104 "$c" bench/week.lua)")
done

# 4. Booking cost.
plain=$(python3 bench/bookings.py "$URL" "$SIM_URL" plain 40 0)
small=$(python3 bench/bookings.py "$URL" "$SIM_URL" docs 30 20000)
large=$(python3 bench/bookings.py "$URL" "$SIM_URL" docs 10 5242880)
# The same on the EWS calendar.
plain_ews=$(python3 bench/bookings.py "$URL" "$SIM_URL" plain_ews 40 0)
small_ews=$(python3 bench/bookings.py "$URL" "$SIM_URL" docs_ews 30 20000)
large_ews=$(python3 bench/bookings.py "$URL" "$SIM_URL" docs_ews 10 5242880)

commit=$(git rev-parse --short HEAD)
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])['$2'])" "$1"; }
{
  echo "Booket benchmarks — commit $commit, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $cpu, ${DUR}s per load run"
  echo
  echo "| what | measured | target |"
  echo "|---|---|---|"
  echo "| widget download, brotli (wasm+js+css+loader) | $br B (gzip $gz B, raw $raw B) | ≤ $budget B |"
  for e in "${economy[@]}"; do
    echo "| Graph reads for ${e%%:*} concurrent viewers of one week | ${e#*:} | ≤ 2 |"
  done
  echo "| most Graph requests in flight per app (whole run) | $max_in_flight | ≤ 4 |"
  for r in "${reads[@]}"; do
    IFS='|' read -r c b a ratio <<<"$r"
    read -r brps bp50 bp99 berr <<<"$b"; read -r arps ap50 ap99 _ <<<"$a"
    ratio=$(python3 -c "print(f'{$ratio:.2f}')")
    echo "| week reads, $c clients (medians of $ROUNDS rounds): Booket $brps req/s (p50 $bp50 ms, p99 $bp99 ms, non-2xx $berr) vs bare axum $arps req/s (p50 $ap50 ms, p99 $ap99 ms) | ratio $ratio | ≥ 0.7 |"
  done
  for r in "${browser_reads[@]}"; do
    IFS='|' read -r c brps arps ratio <<<"$r"
    echo "| week reads as browsers ask (gzip, $gzip_bytes B), $c clients (medians of $ROUNDS rounds): Booket $(printf '%.0f' "$brps") req/s vs bare axum $(printf '%.0f' "$arps") req/s | ratio $(python3 -c "print(f'{$ratio:.2f}')") | ≥ 0.7 |"
  done
  for r in "${full_reads[@]}"; do
    IFS='|' read -r c brps arps ratio <<<"$r"
    echo "| week reads of a week without a free slot (names the next free one, $full_bytes B), $c clients (medians of $ROUNDS rounds): Booket $(printf '%.0f' "$brps") req/s vs bare axum $(printf '%.0f' "$arps") req/s | ratio $(python3 -c "print(f'{$ratio:.2f}')") | ≥ 0.7 |"
  done
  echo "| Graph round trips per booking, no files | $(field "$plain" round_trips_per_booking) | ≤ 2 |"
  echo "| EWS round trips per booking, no files (share through EWS: $(field "$plain_ews" ews_share)) | $(field "$plain_ews" round_trips_per_booking) | ≤ Graph's |"
  echo "| booking wall time, no files (n=$(field "$plain" n)) | Graph: p50 $(field "$plain" p50_ms) ms, p99 $(field "$plain" p99_ms) ms; EWS: p50 $(field "$plain_ews" p50_ms) ms, p99 $(field "$plain_ews" p99_ms) ms | |"
  echo "| booking with a 20 KB file (n=$(field "$small" n)) | Graph: $(field "$small" round_trips_per_booking) round trips, p50 $(field "$small" p50_ms) ms, p99 $(field "$small" p99_ms) ms; EWS: $(field "$small_ews" round_trips_per_booking) round trips, p50 $(field "$small_ews" p50_ms) ms, p99 $(field "$small_ews" p99_ms) ms | EWS ≤ Graph |"
  echo "| booking with a 5 MB file (n=$(field "$large" n)) | Graph: $(field "$large" round_trips_per_booking) round trips, p50 $(field "$large" p50_ms) ms, p99 $(field "$large" p99_ms) ms; EWS: $(field "$large_ews" round_trips_per_booking) round trips, p50 $(field "$large_ews" p50_ms) ms, p99 $(field "$large_ews" p99_ms) ms | EWS ≤ Graph |"
  echo "| server RSS idle / peak under 500 clients | $((rss_idle / 1024)) MB / $((rss_peak / 1024)) MB | ≤ 60 MB |"
} | tee bench/results.md
if [ "$br" -gt "$budget" ]; then
  echo "bench: widget download $br B brotli is over the budget of $budget B" >&2
  exit 1
fi
