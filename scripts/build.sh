#!/usr/bin/env bash
# Builds the dashboard's WASM site and the three binaries (debug profile: what the quick start
# and the tests use; the benchmark binaries are built by `cargo run -p hakuriver-bench`).
# usage: scripts/build.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
scripts/build-site.sh
cargo build --locked -p hakuriver-host -p hakuriver-runner -p hakuriver-cli --bins
