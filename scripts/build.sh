#!/usr/bin/env bash
# Builds the dashboard's WASM site and the three binaries (debug profile: what the quick start
# and the tests use). usage: scripts/build.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
scripts/build-site.sh
cargo build --locked --bins
