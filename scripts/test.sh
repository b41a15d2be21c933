#!/usr/bin/env bash
# Installs what is missing and runs every test: formatting and lints, Rust unit and
# integration tests (real server against the Graph simulator), and the Playwright suite
# in Debian's Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --locked -p server --all-targets -q -- -D warnings
cargo clippy --locked -p app --features csr --target wasm32-unknown-unknown -q -- -D warnings
echo "== cargo test"
cargo test --locked --workspace

echo "== playwright (Debian Chromium)"
cd end2end
rm -f results.json
status=0
BOOKET_BIN="$PWD/../target/debug/booket" BOOKET_ASSETS="$PWD/../dist" \
  PLAYWRIGHT_JSON_OUTPUT_NAME=results.json npx playwright test --reporter=list,json || status=$?
node scripts/summary.mjs results.json
exit "$status"
