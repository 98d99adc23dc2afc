#!/usr/bin/env bash
# Builds the dashboard's browser side (what `cargo leptos build` does, without needing
# cargo-leptos): the hydrate crate for wasm32, wasm-bindgen's JS glue, the stylesheet and the
# assets. Every name and folder comes from Leptos.toml, as cargo-leptos takes them from the same
# values in Cargo.toml. xterm.js (from node_modules: run scripts/setup.sh first) is vendored into
# the assets folder, so cargo-leptos builds find it there too. The host serves the site root
# (from disk in debug builds, embedded in release builds): build the site before a release build
# of the host.
#
# usage: scripts/build-site.sh [--release]
set -euo pipefail
cd "$(dirname "$0")/.."

# One `key = "value"` of Leptos.toml (a flat file of quoted strings, as cargo-leptos reads it).
setting() {
  local value
  value=$(sed -n "s/^$1 *= *\"\(.*\)\"\s*\(#.*\)\?$/\1/p" Leptos.toml)
  [[ -n $value ]] || { echo "Leptos.toml has no $1 = \"...\"" >&2; exit 1; }
  echo "$value"
}
name=$(setting output-name)
site=$(setting site-root)
pkg="$site/$(setting site-pkg-dir)"
style=$(setting style-file)
assets=$(setting assets-dir)
lib=$(setting lib-package)
crate=${lib//-/_}

profile=dev
dir=debug
if [[ "${1:-}" == "--release" ]]; then
  profile=$(setting lib-profile-release)
  dir=$profile
fi
mkdir -p "$pkg"

# (.cargo/config.toml sets --cfg erase_components for this build and the host's alike.)
cargo build --locked -p "$lib" --lib --target wasm32-unknown-unknown --profile "$profile"
wasm-bindgen --target web --no-typescript --out-name "$name" --out-dir "$pkg" \
  "target/wasm32-unknown-unknown/$dir/$crate.wasm"

if [[ "$dir" != debug ]]; then
  # binaryen from npm (Debian's binaryen 108 breaks the externref table: see ARCHITECTURE.md).
  node_modules/.bin/wasm-opt -Oz --converge --enable-bulk-memory --enable-nontrapping-float-to-int \
    --enable-reference-types -o "$pkg/${name}_bg.wasm" "$pkg/${name}_bg.wasm"
fi

cp "$style" "$pkg/$name.css"
# xterm.js from npm (pinned in package.json), served as /xterm/...: the dashboard's terminal
# imports these ES modules directly (no bundler). Vendored into the (git-ignored)
# assets/xterm folder.
mkdir -p "$assets/xterm"
cp --update node_modules/@xterm/xterm/lib/xterm.mjs node_modules/@xterm/xterm/css/xterm.css \
  node_modules/@xterm/addon-fit/lib/addon-fit.mjs "$assets/xterm/"
cp -R "$assets/." "$site/"
echo "site built in $site ($(du -sh "$pkg/${name}_bg.wasm" | cut -f1) wasm, profile $profile)"
