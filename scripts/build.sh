#!/usr/bin/env bash
# Builds the widget (Trunk, wasm-release profile, wasm-opt) into dist/ with brotli and gzip
# copies, then the `booket` binary. `--release` builds the server in release mode;
# `--without-sim` builds it without the Exchange simulator (no `demo`, no `sim`: what
# production runs, and what the Containerfile builds).
set -euo pipefail
cd "$(dirname "$0")/.."
# npm's binaryen must come before any Debian wasm-opt.
export PATH="$PWD/tools/node_modules/.bin:$HOME/.cargo/bin:$PATH"
export TRUNK_SKIP_VERSION_CHECK=true

trunk build --release --offline
# Trunk minifies the CSS, but its JS minifier cannot parse wasm-bindgen's glue (it warns
# "Failed to minify JS" and copies it as is); terser does it: about 1.6 KB less brotli.
node tools/node_modules/terser/bin/terser dist/app.js --module --compress --mangle \
  --output dist/app.min.js
mv dist/app.min.js dist/app.js
for f in dist/app_bg.wasm dist/app.js dist/booket.js dist/booket.css; do
  [ -f "$f" ] || { echo "build: $f missing after trunk build" >&2; exit 1; }
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
