#!/usr/bin/env bash
# Installs what is missing, builds, and starts `booket demo` (simulated Graph) on
# http://127.0.0.1:3000. Extra arguments go to `booket demo` (e.g. --listen 127.0.0.1:8080).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --build
scripts/build.sh --release
exec target/release/booket demo --assets dist "$@"
