#!/usr/bin/env bash
# This build's loader (public/booket.js) against the loader of an older commit, everything
# else alike: the same wasm, glue, stylesheet and page (with its preload hints), served by
# two `booket demo` servers; the older loader is minified as the build minifies it and
# names this build's files. Phone-profile first visits, alternating (bench/loader-ab.mjs);
# writes bench/loader-ab.md. For a change to the loader alone, where bench/browser.sh
# compares with the loader of before issue 26.
#   bash bench/loader-ab.sh REV [runs]      (runs default 31)
set -euo pipefail
cd "$(dirname "$0")/.."
REV=${1:?usage: bench/loader-ab.sh REV [runs]}
RUNS=${2:-31}
git cat-file -e "$REV:public/booket.js"
scripts/setup.sh
scripts/build.sh --release
BIN=target/release/booket
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
wait_port() { for _ in $(seq 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "loader-ab: $1 did not come up" >&2; exit 1; }

before="$tmp/before"
cp -r dist "$before"
names=$(node -p 'const f=require("./dist/files.json"); JSON.stringify({js:f.js,wasm:f.wasm,css:f.css})')
git show "$REV:public/booket.js" | sed "s|^const FILES = {[^}]*};|const FILES = $names;|" > "$tmp/loader.js"
grep -q "^const FILES = $names;" "$tmp/loader.js" || { echo "loader-ab: $REV's loader has no FILES line" >&2; exit 1; }
node --input-type=module -e '
import { minify } from "./tools/node_modules/terser/main.js";
import { readFileSync, writeFileSync } from "node:fs";
const out = await minify(readFileSync(process.argv[1], "utf8"), { module: true, compress: true, mangle: true });
writeFileSync(process.argv[2], out.code);' "$tmp/loader.js" "$before/booket.js"
rm -f "$before/booket.js.br" "$before/booket.js.gz"
brotli -f -q 11 -k "$before/booket.js"; gzip -f -9 -k "$before/booket.js"

clock=2026-11-30T08:00:00+01:00
$BIN demo --listen 127.0.0.1:4206 --sim-listen 127.0.0.1:4207 --assets dist --clock-start "$clock" >/dev/null 2>&1 & pids+=($!)
$BIN demo --listen 127.0.0.1:4208 --sim-listen 127.0.0.1:4209 --assets "$before" --clock-start "$clock" >/dev/null 2>&1 & pids+=($!)
wait_port http://127.0.0.1:4206/
wait_port http://127.0.0.1:4208/
node bench/loader-ab.mjs "$RUNS" http://127.0.0.1:4206/ http://127.0.0.1:4208/ "$(git rev-parse --short "$REV")" \
  "$(git rev-parse --short HEAD)" | tee bench/loader-ab.md
