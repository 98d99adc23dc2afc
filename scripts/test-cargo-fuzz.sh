#!/usr/bin/env bash
# Runs the cargo-fuzz targets in fuzz/ (task targets, sizes, the configuration) for a bounded
# time each, with a fixed seed, from the checked-in seed corpus (new inputs go to a temporary
# copy, so the checkout stays clean). A crash, a panic or a failed property fails the target;
# libFuzzer leaves the input under fuzz/artifacts/.
# Needs scripts/setup.sh --tests' nightly toolchain and cargo-fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLCHAIN=nightly-2026-10-30
SECONDS_EACH=${FUZZ_SECONDS:-20}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
(cd fuzz && cargo "+$TOOLCHAIN" fuzz build -O) || { echo "cargo-fuzz: build failed"; echo "cargo-fuzz: 0 targets passed, 1 failed"; exit 1; }
for target in target size config; do
  mkdir -p "$work/$target"
  if (cd fuzz && cargo "+$TOOLCHAIN" fuzz run -O "$target" "$work/$target" "corpus/$target" -- \
        -max_total_time="$SECONDS_EACH" -seed=1 -print_final_stats=1) > "$work/$target.log" 2>&1; then
    runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$work/$target.log" | grep -oE '[0-9]+$' || echo '?')
    echo "fuzz target $target: ok ($runs inputs in ${SECONDS_EACH} s)"
    passed=$((passed + 1))
  else
    echo "fuzz target $target: FAILED"; tail -40 "$work/$target.log"
    failed=$((failed + 1))
  fi
done
echo "cargo-fuzz: $passed targets passed, $failed failed"
((failed == 0))
