#!/usr/bin/env bash
# Builds the dashboard's browser side into target/site (what cargo-leptos would do, without
# needing cargo-leptos): the hydrate crate for wasm32, wasm-bindgen's JS glue, the stylesheet, the
# public assets and xterm.js (from node_modules: run scripts/setup.sh first). The host serves target/site (read from disk in debug builds, embedded in
# release builds), so build the site before a release build of the host.
#
# usage: scripts/build-site.sh [--release]
set -euo pipefail
cd "$(dirname "$0")/.."

profile=dev
dir=debug
if [[ "${1:-}" == "--release" ]]; then
  profile=wasm-release
  dir=wasm-release
fi

site=target/site
pkg="$site/pkg"
mkdir -p "$pkg"

# (.cargo/config.toml sets --cfg erase_components for this build and the host's alike.)
cargo build --locked -p hakuriver-frontend --lib --target wasm32-unknown-unknown --profile "$profile"
wasm-bindgen --target web --no-typescript --out-name hakuriver --out-dir "$pkg" \
  "target/wasm32-unknown-unknown/$dir/hakuriver_frontend.wasm"

if [[ "$profile" == wasm-release ]]; then
  # binaryen from npm (Debian's binaryen 108 breaks the externref table: see ARCHITECTURE.md).
  node_modules/.bin/wasm-opt -Oz --converge --enable-bulk-memory --enable-nontrapping-float-to-int \
    --enable-reference-types -o "$pkg/hakuriver_bg.wasm" "$pkg/hakuriver_bg.wasm"
fi

cp style/main.css "$pkg/hakuriver.css"
cp -R public/. "$site/"
# xterm.js from npm (pinned in package.json), served as /xterm/...: the dashboard's terminal
# imports these ES modules directly (no bundler).
mkdir -p "$site/xterm"
cp node_modules/@xterm/xterm/lib/xterm.mjs node_modules/@xterm/xterm/css/xterm.css \
  node_modules/@xterm/addon-fit/lib/addon-fit.mjs "$site/xterm/"
echo "site built in $site ($(du -sh "$pkg/hakuriver_bg.wasm" | cut -f1) wasm, profile $profile)"
