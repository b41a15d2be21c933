#!/usr/bin/env bash
# The browser benchmark (issue 26.6): Debian's Chromium through Playwright opens the demo
# form and records, from navigation start, when the first time button is on screen; first
# visit (empty cache) and second visit (same browser), on a phone profile (60 ms round
# trip, 9 Mbit/s down, 1.5 Mbit/s up, CPU 4x slower) and on plain loopback; this build
# beside the previous loader (bench/previous-loader.js, serving the same wasm under the old
# fixed names), alternating, several runs each. Prints medians and writes
# bench/browser-results.md. A third column, the floor, is the same page with
# bench/floor-loader.js in the loader's place: the first week's answer parsed and one button
# put in, no widget — the earliest any script on this page could show a slot.
#   bash bench/browser.sh [runs]      (default 7)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-7}
. bench/browser-common.sh

# The previous loader's files: this build's wasm and glue under the names it imports.
prev="$tmp/previous"
cp -r dist "$prev"
wasm=$(node -p 'require("./dist/files.json").wasm'); js=$(node -p 'require("./dist/files.json").js')
cp "dist/$wasm" "$prev/app_bg.wasm"; cp "dist/$js" "$prev/app.js"
cp bench/previous-loader.js "$prev/booket.js"
# The pages of before named no files in their head (web/hints.rs writes hints only from a
# files.json): without it the previous loader's page is the page of before.
rm -f "$prev/files.json"
recompress "$prev/app_bg.wasm" "$prev/app.js" "$prev/booket.js"

# The floor's files: this build's, with the floor loader in the loader's place.
floor="$tmp/floor"
cp -r dist "$floor"
cp bench/floor-loader.js "$floor/booket.js"
recompress "$floor/booket.js"

demo 4200 dist
demo 4202 "$prev"
demo 4204 "$floor"
node bench/browser.mjs "$RUNS" http://127.0.0.1:4200/ http://127.0.0.1:4202/ http://127.0.0.1:4204/ "$(git rev-parse --short HEAD)" | tee bench/browser-results.md
