#!/usr/bin/env bash
# The rush benchmark ("When bookings open"): for each crowd size, a fresh simulator with
# 60 ms per Graph round trip and its four-in-flight limit, one Booket instance, and
# bench/rush.py's citizens arriving at once. Prints one JSON line per size and writes them
# to bench/rush-results.md. Loopback only.
#   bash bench/rush.sh [sizes…]     (default: 300 1000 3000)
# RUSH_FREE=<n>|all: free slots left before the doors open (default 63, see rush.py).
# RUSH_SERVER_BIN=<another booket> runs that build as the server (a baseline measured in the
# same session; the simulator is always this build's).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=("$@"); [ ${#SIZES[@]} -gt 0 ] || SIZES=(300 1000 3000)
scripts/setup.sh --build
scripts/build.sh --release
BIN=target/release/booket
ulimit -n 65536 2>/dev/null || true
export BOOKET_BENCH_SECRET='demo~Sim.Secret-Value_0123456789abcdef' BOOKET_BENCH_SLOT_KEY=bench-slot-key-0123456789abcdef-0123456789 BOOKET_LOG=warn
BOOKET_BENCH_RECEIPT_KEY="$(openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256)"
export BOOKET_BENCH_RECEIPT_KEY
wait_port() { for _ in $(seq 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "rush: $1 did not come up" >&2; exit 1; }
out=()
for n in "${SIZES[@]}"; do
  $BIN sim --listen 127.0.0.1:4111 >/dev/null & sim=$!
  wait_port http://127.0.0.1:4111/_sim/state
  "${RUSH_SERVER_BIN:-$BIN}" serve --config bench/booket.rush.toml --assets dist >/dev/null & srv=$!
  wait_port http://127.0.0.1:4110/healthz || wait_port http://127.0.0.1:4110/api/element
  curl -s -X POST -H 'content-type: application/json' -d '{"latency_ms": 60}' http://127.0.0.1:4111/_sim/faults >/dev/null
  line=$(python3 bench/rush.py http://127.0.0.1:4110 http://127.0.0.1:4111 "$n" "${RUSH_FREE:-63}")
  echo "$line"; out+=("$line")
  kill "$srv" "$sim"; wait "$srv" "$sim" 2>/dev/null || true
done
{
  echo "Rush benchmark — commit $(git rev-parse --short HEAD), server ${RUSH_SERVER_BIN:-this build}, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, 60 ms per Graph round trip, 4 in flight"
  echo
  for l in "${out[@]}"; do echo "    $l"; done
} > bench/rush-results.md
