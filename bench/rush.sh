#!/usr/bin/env bash
# The rush benchmark ("When bookings open"): for each crowd size, a fresh simulator with
# 60 ms per Graph round trip and its four-in-flight limit, one Booket instance, and the
# citizens arriving at once: bench/rush.py sets the scene and counts, the compiled crowd
# (bench/crowd.rs, built here) sends them. Prints one JSON line per size and writes them
# to bench/rush-results.md. Loopback only.
#   bash bench/rush.sh [sizes…]     (default: 300 1000 3000)
# RUSH_FREE=<n>|all: free slots left before the doors open (default 63, see rush.py).
# RUSH_SERVER_BIN=<another booket> runs that build as the server (a baseline measured in the
# same session; the simulator is always this build's).
# RUSH_INSTANCES=2: two instances (4110 and 4112) sharing a Redis store (scripts/redis.sh),
# citizens alternating between them. RUSH_LOGS=<dir> keeps the servers' logs there.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=("$@"); [ ${#SIZES[@]} -gt 0 ] || SIZES=(300 1000 3000)
scripts/setup.sh --build
scripts/build.sh --release
cargo build --locked --release -p server --example crowd
export CROWD=target/release/examples/crowd
BIN=target/release/booket
ulimit -n 65536 2>/dev/null || true
. bench/env.sh
wait_port() { for _ in $(seq 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "rush: $1 did not come up" >&2; exit 1; }
INSTANCES=${RUSH_INSTANCES:-1}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
bases=http://127.0.0.1:4110
configs=(bench/booket.rush.toml)
if [ "$INSTANCES" = 2 ]; then
  bases=$bases,http://127.0.0.1:4112
  export BOOKET_BENCH_STORE="redis+unix://$tmp/store/redis.sock"
  for port in 4110 4112; do
    { sed -e "s/^listen = \"127.0.0.1:4110\"/listen = \"127.0.0.1:$port\"/" \
          -e "s/^private_listen = \"127.0.0.1:4120\"/private_listen = \"127.0.0.1:$((port + 10))\"/" bench/booket.rush.toml
      printf '\n[store]\nurl = { env = "BOOKET_BENCH_STORE" }\n'; } > "$tmp/rush-$port.toml"
  done
  configs=("$tmp/rush-4110.toml" "$tmp/rush-4112.toml")
fi
out=()
for n in "${SIZES[@]}"; do
  $BIN sim --listen 127.0.0.1:4111 >/dev/null & sim=$!
  wait_port http://127.0.0.1:4111/_sim/state
  pids=("$sim")
  if [ "$INSTANCES" = 2 ]; then
    rm -rf "$tmp/store"; scripts/redis.sh "$tmp/store" >/dev/null & pids+=($!)
    for _ in $(seq 100); do [ -S "$tmp/store/redis.sock" ] && break; sleep 0.05; done
    # A store that has just started hands out no lease for one lease length: this one is
    # new, with no lease from before to wait out (as `booket check` would find it).
    redis-cli -s "$tmp/store/redis.sock" set booket:epoch 0 >/dev/null
  fi
  i=0
  for c in "${configs[@]}"; do
    "${RUSH_SERVER_BIN:-$BIN}" serve --config "$c" --assets dist >"$tmp/server-$i.log" 2>&1 & pids+=($!)
    i=$((i + 1))
  done
  for b in ${bases//,/ }; do wait_port "$b/healthz" || wait_port "$b/api/element"; done
  curl -s -X POST -H 'content-type: application/json' -d '{"latency_ms": 60}' http://127.0.0.1:4111/_sim/faults >/dev/null
  line=$(python3 bench/rush.py "$bases" http://127.0.0.1:4111 "$n" "${RUSH_FREE:-63}")
  # What the servers counted: writes refused for want of a lease (the store unreachable,
  # busy, starting, a lease spent) and Graph's 429s.
  refused=0; throttled=0
  for b in ${bases//,/ }; do
    m=$(curl -s "http://127.0.0.1:$(( ${b##*:} + 10 ))/metrics")
    refused=$(( refused + $(awk '/^booket_store_refusals_total/ {s += $2} END {print s + 0}' <<<"$m") ))
    throttled=$(( throttled + $(awk '/^booket_graph_throttled_total/ {s += $2} END {print s + 0}' <<<"$m") ))
  done
  # And the warnings they logged about the store (it could not be reached, or was slow).
  store_warnings=$(cat "$tmp"/server-*.log | grep -c -i "store\|instances" || true)
  [ -z "${RUSH_LOGS:-}" ] || { mkdir -p "$RUSH_LOGS"; cp "$tmp"/server-*.log "$RUSH_LOGS"/; }
  line="{\"instances\": $INSTANCES, \"store_refusals\": $refused, \"store_warnings\": $store_warnings, \"graph_429s\": $throttled, ${line#\{}"
  echo "$line"; out+=("$line")
  kill "${pids[@]}"; wait "${pids[@]}" 2>/dev/null || true
done
{
  echo "Rush benchmark — commit $(git rev-parse --short HEAD), server ${RUSH_SERVER_BIN:-this build}, $INSTANCES instance(s), $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, 60 ms per Graph round trip, 4 in flight"
  echo
  for l in "${out[@]}"; do echo "    $l"; done
} > bench/rush-results.md
