#!/usr/bin/env bash
# Fails when a configured secret of the test setup shows up in the given files (test logs,
# the built bundle). The values are the simulator's demo secrets and the test slot keys.
# The logs scanned are the servers' own: in-process servers of the integration tests write
# target/test-logs/inproc-*.log, server processes target/test-logs/process-*.log; without
# them there is nothing to scan, and that fails too.
set -euo pipefail
secrets=(
  'demo~Sim.Secret-Value_0123456789abcdef'   # the demo app's secret Value
  '9b8c7d6e-5f40-4a3b-8c2d-1e0f9a8b7c6d'     # its secret ID (pasted by mistake in tests)
  'test-slot-key-0123456789abcdef'           # the in-process servers' slot key
  'process-test-slot-key-0123456789abcdef'   # the server processes' slot key
  'demo~Ews.Password-0123456789'             # the EWS service account's password
  'REVNT1xzdmMtYm9va2V0OmRlbW9+RXdzLlBhc3N3b3JkLTAxMjM0NTY3ODk='  # … as its Basic header
)
logs=$(find "$@" \( -name 'inproc-*.log' -o -name 'process-*.log' \) -size +0 2>/dev/null | wc -l)
if [ "$logs" -eq 0 ]; then
  echo "no-secrets: no server logs among $* (inproc-*.log, process-*.log): nothing was scanned" >&2
  exit 1
fi
found=0
for s in "${secrets[@]}"; do
  if grep -rlaF -- "$s" "$@" 2>/dev/null; then
    echo "no-secrets: a configured secret appears in the files above" >&2
    found=1
  fi
done
[ "$found" -eq 0 ] && echo "no-secrets: none of ${#secrets[@]} secrets in $# places ($logs server logs)"
exit "$found"
