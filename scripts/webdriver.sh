#!/usr/bin/env bash
# The booking path in the other engines citizens' browsers run, through W3C WebDriver
# (end2end/webdriver/booking.mjs): WebKitGTK (MiniBrowser, driven by WebKitWebDriver, on an
# Xvfb display) and Firefox ESR (headless, driven by geckodriver), against a demo server of
# its own. Debian's webkit2gtk-driver, xvfb and firefox-esr and geckodriver from crates.io
# are installed by scripts/setup.sh. WebKitGTK is the engine family of iOS Safari, not iOS.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${BOOKET_BIN:-$PWD/target/debug/booket}"
logs="${BOOKET_WEBDRIVER_LOGS:-$PWD/target/test-logs}"
mkdir -p "$logs"
export PATH="$HOME/.cargo/bin:$PATH"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
wait_url() {
  for _ in $(seq 150); do curl -s -o /dev/null "$1" && return 0; sleep 0.2; done
  echo "webdriver: $1 did not come up" >&2; return 1
}

# Xvfb takes a free display and says which once it is ready (-displayfd), so a display left
# behind by another program (or a stale lock) does not matter.
rm -f "$logs/webdriver-display"
Xvfb -displayfd 3 -screen 0 1280x1024x24 -nolisten tcp 3>"$logs/webdriver-display" \
  >"$logs/webdriver-xvfb.log" 2>&1 & pids+=($!)
for _ in $(seq 100); do [ -s "$logs/webdriver-display" ] && break; sleep 0.1; done
[ -s "$logs/webdriver-display" ] || { echo "webdriver: Xvfb did not start" >&2; exit 1; }
display=":$(tr -d '[:space:]' < "$logs/webdriver-display")"
DISPLAY=$display WebKitWebDriver --port=4450 >"$logs/webdriver-webkit.log" 2>&1 & pids+=($!)
geckodriver --port 4451 >"$logs/webdriver-gecko.log" 2>&1 & pids+=($!)
"$bin" demo --listen 127.0.0.1:3920 --sim-listen 127.0.0.1:3921 --assets dist \
  --clock-start 2026-11-30T08:00:00+01:00 >"$logs/webdriver-demo.log" 2>&1 & pids+=($!)
wait_url http://127.0.0.1:4450/status
wait_url http://127.0.0.1:4451/status
wait_url http://127.0.0.1:3920/

status=0
for engine in webkit firefox; do
  driver=http://127.0.0.1:4450; [ "$engine" = firefox ] && driver=http://127.0.0.1:4451
  if ! timeout 300 node end2end/webdriver/booking.mjs "$engine" "$driver" \
    http://127.0.0.1:3920 http://127.0.0.1:3921; then
    echo "webdriver: the booking path failed in $engine (logs: $logs/webdriver-*.log)" >&2
    status=1
  fi
done
exit "$status"
