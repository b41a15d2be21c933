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
. bench/browser-common.sh

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
recompress "$before/booket.js"

demo 4206 dist
demo 4208 "$before"
node bench/loader-ab.mjs "$RUNS" http://127.0.0.1:4206/ http://127.0.0.1:4208/ "$(git rev-parse --short "$REV")" \
  "$(git rev-parse --short HEAD)" | tee bench/loader-ab.md
