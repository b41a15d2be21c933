# Sourced by bench/browser.sh and bench/loader-ab.sh: this build (set-up and release build),
# a scratch directory, and `booket demo` servers of this build over other files, all gone
# when the script ends.
scripts/setup.sh
scripts/build.sh --release
BIN=target/release/booket
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

# demo PORT ASSETS: the demo form on PORT (its simulator on PORT+1), serving the widget's
# files from ASSETS, on the clock the end-to-end tests pin; returns once it answers.
demo() {
  "$BIN" demo --listen "127.0.0.1:$1" --sim-listen "127.0.0.1:$(($1 + 1))" --assets "$2" \
    --clock-start 2026-11-30T08:00:00+01:00 >/dev/null 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0; sleep 0.1; done
  echo "$(basename "$0"): the demo on port $1 did not come up" >&2
  exit 1
}

# recompress FILE…: the brotli and gzip copies the server hands browsers, made again.
recompress() { for f in "$@"; do brotli -f -q 11 -k "$f"; gzip -f -9 -k "$f"; done; }
