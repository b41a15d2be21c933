#!/usr/bin/env bash
# Installs what Booket needs and is missing; fast when everything is there.
#   scripts/setup.sh          everything (build tools, Chromium and the Playwright packages,
#                             WebKitGTK and Firefox ESR with their WebDriver drivers)
#   scripts/setup.sh --build  only what building the widget and the server needs
# Everything comes from crates.io, npm or Debian (no other downloads; see docs/contributors/testing.md).
set -euo pipefail
cd "$(dirname "$0")/.."
TRUNK_VERSION=0.21.14
CARGO_FUZZ_VERSION=0.13.2
GECKODRIVER_VERSION=0.37.1
WASM_BINDGEN_VERSION=0.2.130 # must equal the wasm-bindgen pin in Cargo.toml
mode=${1:-all}

log() { printf 'setup: %s\n' "$*"; }
export PATH="$HOME/.cargo/bin:$PATH"

apt_need=()
[ "$mode" = "--build" ] || [ -x /usr/bin/chromium ] || apt_need+=(chromium)
command -v brotli >/dev/null 2>&1 || apt_need+=(brotli)
command -v openssl >/dev/null 2>&1 || apt_need+=(openssl)
# The deployment examples are checked by the tools that run them (scripts/deploy-check.sh).
if [ "$mode" != "--build" ]; then
  command -v systemd-analyze >/dev/null 2>&1 || apt_need+=(systemd)
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || apt_need+=(nginx-light)
  # The shared store of several instances: the tests start their own (scripts/redis.sh).
  command -v redis-server >/dev/null 2>&1 || apt_need+=(redis-server)
  # The booking path in WebKitGTK and Firefox ESR (scripts/webdriver.sh).
  command -v WebKitWebDriver >/dev/null 2>&1 || apt_need+=(webkit2gtk-driver)
  command -v Xvfb >/dev/null 2>&1 || apt_need+=(xvfb)
  [ -x /usr/bin/firefox-esr ] || apt_need+=(firefox-esr)
fi
if [ ${#apt_need[@]} -gt 0 ]; then
  log "apt-get install ${apt_need[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${apt_need[@]}" >/dev/null
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi
if ! trunk --version 2>/dev/null | grep -q " $TRUNK_VERSION\$"; then
  log "cargo install trunk $TRUNK_VERSION (about 7 minutes on 2 cores)"
  cargo install --locked trunk --version "$TRUNK_VERSION"
fi
if ! wasm-bindgen --version 2>/dev/null | grep -q " $WASM_BINDGEN_VERSION\$"; then
  log "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 2 minutes)"
  # Not --locked: its lock file pins a crate version the registry mirror lacks.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi
if [ "$mode" != "--build" ] && ! geckodriver --version 2>/dev/null | grep -q "^geckodriver $GECKODRIVER_VERSION"; then
  log "cargo install geckodriver $GECKODRIVER_VERSION (about 2 minutes)"
  cargo install --locked geckodriver --version "$GECKODRIVER_VERSION"
fi
if [ "$mode" != "--build" ] && ! cargo fuzz --version 2>/dev/null | grep -q " $CARGO_FUZZ_VERSION\$"; then
  log "cargo install cargo-fuzz $CARGO_FUZZ_VERSION (about 1 minute)"
  cargo install --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi
# npm ci again whenever the lock file changed since the last install (a stamp of its hash).
npm_current() {
  [ -f "$1/node_modules/.booket-lock" ] && [ "$(sha256sum < "$1/package-lock.json")" = "$(cat "$1/node_modules/.booket-lock")" ]
}
npm_install() {
  (cd "$1" && npm ci --no-audit --no-fund --loglevel=error)
  sha256sum < "$1/package-lock.json" > "$1/node_modules/.booket-lock"
}
if ! npm_current tools; then
  log "npm ci in tools/ (binaryen 132 for wasm-opt, terser)"
  npm_install tools
fi
if [ "$mode" != "--build" ] && ! npm_current end2end; then
  log "npm ci in end2end/ (Playwright, axe-core, jose; browsers come from Debian)"
  npm_install end2end
fi
# Trunk builds offline, so every crate must be in the local registry cache first.
cargo fetch --locked -q
