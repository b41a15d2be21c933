#!/usr/bin/env bash
# What a citizen downloads for the widget (after scripts/build.sh): raw, gzip -9, brotli -q 11.
# Fails when the brotli total is over the budget in bench/budget-bytes.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
total_raw=0; total_gz=0; total_br=0
printf '%-16s %10s %10s %10s\n' file raw gzip brotli
for f in dist/app_bg.wasm dist/app.js dist/booket.js dist/booket.css; do
  raw=$(stat -c %s "$f"); gz=$(gzip -9 -c "$f" | wc -c); br=$(brotli -q 11 -c "$f" | wc -c)
  total_raw=$((total_raw + raw)); total_gz=$((total_gz + gz)); total_br=$((total_br + br))
  printf '%-16s %10d %10d %10d\n' "$(basename "$f")" "$raw" "$gz" "$br"
done
printf '%-16s %10d %10d %10d\n' total "$total_raw" "$total_gz" "$total_br"
budget=$(cat bench/budget-bytes.txt)
if [ "$total_br" -gt "$budget" ]; then
  echo "size: the widget is $total_br B brotli, over its budget of $budget B" >&2
  exit 1
fi
echo "size: $total_br B brotli, within the budget of $budget B"
