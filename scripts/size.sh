#!/usr/bin/env bash
# What a citizen downloads for the widget (after scripts/build.sh): raw, gzip -9, brotli -q 11.
# Fails when the brotli total is over the budget in bench/budget-bytes.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
total_raw=0; total_gz=0; total_br=0
printf '%-28s %10s %10s %10s\n' file raw gzip brotli
# The files of this build (dist/files.json names them; the previous build's stay beside them).
files=$(node -e 'const f=require("./dist/files.json"); console.log([f.wasm, f.js, f.loader, f.css].map(n => "dist/" + n).join(" "))')
for f in $files; do
  raw=$(stat -c %s "$f"); gz=$(gzip -9 -c "$f" | wc -c); br=$(brotli -q 11 -c "$f" | wc -c)
  total_raw=$((total_raw + raw)); total_gz=$((total_gz + gz)); total_br=$((total_br + br))
  printf '%-28s %10d %10d %10d\n' "$(basename "$f")" "$raw" "$gz" "$br"
done
printf '%-28s %10d %10d %10d\n' total "$total_raw" "$total_gz" "$total_br"
budget=$(cat bench/budget-bytes.txt)
if [ "$total_br" -gt "$budget" ]; then
  echo "size: the widget is $total_br B brotli, over its budget of $budget B" >&2
  exit 1
fi
echo "size: $total_br B brotli, within the budget of $budget B"
