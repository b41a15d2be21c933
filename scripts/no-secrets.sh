#!/usr/bin/env bash
# Fails when a configured secret of the test setup shows up in the given files (test logs,
# the built bundle). The values are the simulator's demo secrets and the test slot keys.
set -euo pipefail
secrets=(
  'demo~Sim.Secret-Value_0123456789abcdef'   # the demo app's secret Value
  '9b8c7d6e-5f40-4a3b-8c2d-1e0f9a8b7c6d'     # its secret ID (pasted by mistake in tests)
  'test-slot-key'
  'process-test-key'
)
found=0
for s in "${secrets[@]}"; do
  if grep -rlaF -- "$s" "$@" 2>/dev/null; then
    echo "no-secrets: a configured secret appears in the files above" >&2
    found=1
  fi
done
[ "$found" -eq 0 ] && echo "no-secrets: none of ${#secrets[@]} secrets in $# places"
exit "$found"
