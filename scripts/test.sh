#!/usr/bin/env bash
# Installs what is missing and runs every test: formatting and lints, Rust unit and
# integration tests (real server against the Exchange simulator), the Playwright suite
# in Debian's Chromium, and the booking path in WebKitGTK and Firefox ESR (WebDriver).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh

echo "== widget size budget"
scripts/size.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --locked -p server -p booket-sim --all-targets -q -- -D warnings
cargo clippy --locked -p server --no-default-features -q -- -D warnings
cargo clippy --locked -p app --features csr --target wasm32-unknown-unknown -q -- -D warnings
echo "== dependencies once"
scripts/deps-check.sh
rm -rf target/test-logs && mkdir -p target/test-logs
echo "== cargo test"
cargo test --locked --workspace 2>&1 | tee target/test-logs/cargo-test.log

echo "== deployment examples (systemd unit, nginx site)"
scripts/deploy-check.sh

echo "== cargo fuzz (parsers of browser input, 30 s per target)"
scripts/fuzz.sh 2>&1 | tee target/test-logs/fuzz.log

echo "== playwright (Debian Chromium)"
cd end2end
rm -f results.json
status=0
BOOKET_BIN="$PWD/../target/debug/booket" BOOKET_ASSETS="$PWD/../dist" BOOKET_LOG=info \
  PLAYWRIGHT_JSON_OUTPUT_NAME=results.json npx playwright test --reporter=list,json \
  2>&1 | tee ../target/test-logs/playwright.log || status=$?
cd ..
echo "== webdriver: the booking path in WebKitGTK and Firefox ESR"
scripts/webdriver.sh 2>&1 | tee target/test-logs/webdriver.log || status=1
echo "== the production binary carries no simulator"
scripts/production-check.sh || status=1
echo "== secrets in logs and bundle"
scripts/no-secrets.sh target/test-logs dist || status=1
node end2end/scripts/summary.mjs end2end/results.json
exit "$status"
