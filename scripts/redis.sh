#!/usr/bin/env bash
# Runs a Redis server for Booket's tests and benchmarks, in the foreground, on a unix socket
# in DIR (no TCP port unless PORT is given), without persistence: a restart starts empty, as
# Booket's leases expect (docs/operators/instances.md).
#   scripts/redis.sh DIR [PORT]
set -euo pipefail
dir=${1:?usage: scripts/redis.sh DIR [PORT]}
port=${2:-0}
mkdir -p "$dir"
exec redis-server --port "$port" --bind 127.0.0.1 --unixsocket "$dir/redis.sock" \
  --unixsocketperm 700 --save '' --appendonly no --dir "$dir" --daemonize no \
  --loglevel warning --logfile "$dir/redis.log"
