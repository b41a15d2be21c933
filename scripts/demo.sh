#!/usr/bin/env bash
# Installs what is missing, builds, and starts `booket demo` (simulated Exchange: a Graph and
# an EWS calendar) on http://127.0.0.1:3000. Extra arguments go to `booket demo` (e.g.
# --listen 127.0.0.1:8080, --exchange ews).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --build
scripts/build.sh --release
exec target/release/booket demo --assets dist "$@"
