#!/usr/bin/env bash
# Builds the widget (Trunk, wasm-release profile, then tools/finish-widget.mjs: dead exports
# out, wasm-opt, content-hashed names) into dist/ with brotli and gzip copies, then the `booket` binary. `--release` builds the server in release mode;
# `--without-sim` builds it without the Exchange simulator (no `demo`, no `sim`: what
# production runs, and what the Containerfile builds).
set -euo pipefail
cd "$(dirname "$0")/.."
# npm's binaryen must come before any Debian wasm-opt.
export PATH="$PWD/tools/node_modules/.bin:$HOME/.cargo/bin:$PATH"
export TRUNK_SKIP_VERSION_CHECK=true

# The files the last build named (dist/files.json) stay one more build, for loaders that
# browsers still hold (they keep booket.js for a few minutes).
previous=$(mktemp -d)
trap 'rm -rf "$previous"' EXIT
if [ -f dist/files.json ]; then
  for f in $(grep -o '"[a-z]*-[0-9a-f]\{16\}\.[a-z]*"' dist/files.json | tr -d '"'); do
    if [ -f "dist/$f" ]; then cp "dist/$f" "$previous/"; fi
  done
fi
trunk build --release --offline
# Dead exports out, wasm-opt, terser, content-hashed names written into the loader.
node tools/finish-widget.mjs dist "$previous"
for f in dist/*.wasm dist/*.js dist/*.css; do
  brotli -f -q 11 -k "$f"
  gzip -f -9 -k "$f"
done

profile=() features=()
for arg in "$@"; do
  case "$arg" in
    --release) profile=(--release) ;;
    --without-sim) features=(--no-default-features) ;;
    *) echo "build: unknown option $arg" >&2; exit 2 ;;
  esac
done
cargo build --locked -p server "${profile[@]}" "${features[@]}"
