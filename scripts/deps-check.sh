#!/usr/bin/env bash
# Dependencies once: at most 11 crates in two versions among the normal dependencies, and
# jsonwebtoken without a backend of its own (Booket's signing.rs on ring does the three
# algorithms it uses).
set -euo pipefail
cd "$(dirname "$0")/.."
twice=$(cargo tree --locked -d -e normal 2>/dev/null | grep -E '^[a-z]' | awk '{print $1" "$2}' \
  | sort -u | awk '{print $1}' | uniq -d)
count=$(grep -c . <<<"$twice" || true)
if [ "$count" -gt 11 ]; then
  echo "deps-check: $count crates in two versions (at most 11):" >&2
  echo "$twice" >&2
  exit 1
fi
features=$(cargo tree --locked -e features -i jsonwebtoken 2>/dev/null)
for backend in rust_crypto aws_lc_rs; do
  if grep -q "jsonwebtoken feature \"$backend\"" <<<"$features"; then
    echo "deps-check: jsonwebtoken's $backend backend is on" >&2
    exit 1
  fi
done
echo "deps-check: $count crates in two versions; jsonwebtoken without a backend of its own"
