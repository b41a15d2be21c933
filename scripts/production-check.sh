#!/usr/bin/env bash
# Builds `booket` as production runs it (without the `sim` feature, as the Containerfile
# does) and checks that it has neither `demo` nor `sim` and carries none of the simulator's
# routes. Run last: it leaves target/debug/booket built without the simulator (the next
# scripts/build.sh builds it with it again).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --locked -p server --no-default-features -q
bin=target/debug/booket
help=$("$bin" --help)
for command in demo sim; do
  if grep -qE "^  $command( |$)" <<<"$help"; then
    echo "production-check: \`booket $command\` is in the production binary" >&2
    exit 1
  fi
done
grep -qE "^  serve( |$)" <<<"$help" || { echo "production-check: no \`booket serve\`" >&2; exit 1; }
# The simulator's control routes and its EWS endpoint's answers are strings in its code.
for marker in "/_sim/state" "ErrorSendMeetingInvitationsRequired"; do
  if grep -qaF "$marker" "$bin"; then
    echo "production-check: the binary contains the simulator's \"$marker\"" >&2
    exit 1
  fi
done
echo "production-check: booket serve/check only, no simulator code"
