#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test suite:
#   lint         cargo fmt --check, cargo clippy (warnings are errors)
#   unit         #[test]s inside the crates (pure logic; real SQLite files; no network)
#   integration  the real host, runner and CLI binaries as processes on loopback, and their
#                preflight checks (some run as `nobody` through setpriv)
#   docker       command tasks, environments and VPS tasks through host and runner processes on
#                the real Docker engine, with locally built images (busybox; Debian with sshd,
#                debootstrapped once and cached by scripts/test-image-sshd.sh), and the real
#                OpenSSH client
#   faults       the host and the runner SIGKILLed mid-work (in loops), dockerd restarted, a node
#                lost, storage full and read-only, network cuts (netns), 1000 tasks under 200
#                requests/s, 50 terminals; every task checked for its status, exit code, whole
#                log and a single run. Restarts dockerd, so nothing else may use it meanwhile. Ends
#                with "faults: N injected, N tasks checked, N lost or wrong"
#   postgres     the host's store tests and the real host and runner on a throwaway PostgreSQL
#                server (scripts/test-postgres.sh)
#   end2end      the dashboard in Debian's headless Chromium (playwright-core)
#   api-fuzz     schemathesis against the host's OpenAPI document: fixed seed, thousands of
#                cases, no 5xx (scripts/test-api-fuzz.sh); counted per API operation
#   cargo-fuzz   the cargo-fuzz targets (task targets, sizes, configuration), 20 s each
#                (scripts/test-cargo-fuzz.sh); counted per target
# Prints a summary with the count of each suite, then "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
# A full run needs about 8 GB (the build, Docker images, test clusters under $TMPDIR); with less,
# every suite fails on the host's own disk preflight, so say so once, up front.
for dir in . "${TMPDIR:-/tmp}"; do
  free_gb=$(df --output=avail -BG "$dir" | tail -1 | tr -dc 0-9)
  echo "free disk at $dir: ${free_gb} GB"
  if (( free_gb < 8 )); then
    echo "not running the suites: only ${free_gb} GB free at $dir (8 GB needed); free space there first" >&2
    exit 1
  fi
done
scripts/setup.sh --tests
scripts/build.sh

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
declare -A passed failed
suites=()
status=0

# Sums cargo's "test result:" lines of a log into passed/failed of a suite.
count_cargo() {
  local suite=$1 log=$2 counts
  counts=$(awk '/^test result:/ { for (i = 1; i < NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
                END { print p + 0, f + 0 }' "$log")
  passed[$suite]=${counts% *}
  failed[$suite]=${counts#* }
}

# The itest files of a suite, as `--test NAME` arguments: each file says its suite in its first
# line (`// suite: docker`); a file that names none, or no known one, stops the run.
known_suites=" integration docker faults postgres "
for file in itest/tests/*.rs; do
  suite=$(sed -n '1s|^// suite: \([a-z0-9]*\)$|\1|p' "$file")
  if [[ -z $suite || $known_suites != *" $suite "* ]]; then
    echo "$file: its first line must name its suite, one of:$known_suites(e.g. // suite: integration)" >&2
    exit 1
  fi
done
tests_of() {
  local file
  for file in itest/tests/*.rs; do
    if [[ $(head -1 "$file") == "// suite: $1" ]]; then printf -- '--test %s ' "$(basename "$file" .rs)"; fi
  done
}

run_suite() {
  local suite=$1; shift
  suites+=("$suite")
  printf '\n\033[1m==> %s\033[0m\n' "$suite"
  if ! "$@" 2>&1 | tee "$logs/$suite.log"; then status=1; fi
}

lint_ok=yes
printf '\n\033[1m==> lint\033[0m\n'
cargo fmt --all --check || lint_ok=no
cargo clippy --locked --workspace --all-targets -- -D warnings || lint_ok=no
cargo clippy --locked -p hakuriver-app -p hakuriver-frontend --features hakuriver-app/hydrate \
  --target wasm32-unknown-unknown -- -D warnings || lint_ok=no
[[ $lint_ok == yes ]] || status=1

run_suite unit cargo test --locked --no-fail-fast --workspace --exclude hakuriver-itest --lib --bins
count_cargo unit "$logs/unit.log"

# shellcheck disable=SC2046 # tests_of gives separate words on purpose
run_suite integration cargo test --locked --no-fail-fast -p hakuriver-itest --lib $(tests_of integration)
count_cargo integration "$logs/integration.log"

# Two at a time: several Docker tests move hundreds of megabytes through the engine.
# shellcheck disable=SC2046
run_suite docker cargo test --locked --no-fail-fast -p hakuriver-itest $(tests_of docker) -- --test-threads=2
count_cargo docker "$logs/docker.log"

# The destructive tests (dockerd restarted, tmpfs mounts, network namespaces) are #[ignore]d
# for `cargo test`; here they run, with the variable they check.
# shellcheck disable=SC2046
run_suite faults env HAKURIVER_TEST_DESTRUCTIVE=1 cargo test --locked --no-fail-fast -p hakuriver-itest $(tests_of faults) -- --include-ignored --nocapture --test-threads=1
count_cargo faults "$logs/faults.log"
# Each test prints "faults: injected=N checked=N wrong=N" (maybe after cargo's "test ... ").
grep -oE 'faults: injected=[0-9]+ checked=[0-9]+ wrong=[0-9]+' "$logs/faults.log" |
  awk -F'[= ]' '{ i += $3; c += $5; w += $7 }
    END { printf "faults: %d injected, %d tasks checked, %d lost or wrong\n", i, c, w }' | tee -a "$logs/faults.log"

run_suite postgres scripts/test-postgres.sh
count_cargo postgres "$logs/postgres.log"

run_suite end2end bash -c 'cd end2end && E2E_SCREENSHOT_DIR="$PWD/../target/e2e-screenshots" npm test'
passed[end2end]=$(grep -E '^# pass ' "$logs/end2end.log" | awk '{print $3}' || true)
failed[end2end]=$(grep -E '^# fail ' "$logs/end2end.log" | awk '{print $3}' || true)
: "${passed[end2end]:=0}" "${failed[end2end]:=0}"

# Suites that print "<suite>: N <things> passed, N failed".
count_line() {
  local suite=$1 log=$2 line
  line=$(grep -E "^$suite: [0-9]+ [a-z]+ passed, [0-9]+ failed" "$log" | tail -1 || true)
  passed[$suite]=$(awk '{print $2}' <<<"$line")
  failed[$suite]=$(awk '{print $5}' <<<"$line")
  : "${passed[$suite]:=0}" "${failed[$suite]:=0}"
}

run_suite api-fuzz scripts/test-api-fuzz.sh
count_line api-fuzz "$logs/api-fuzz.log"

run_suite cargo-fuzz scripts/test-cargo-fuzz.sh
count_line cargo-fuzz "$logs/cargo-fuzz.log"

total_passed=0
total_failed=0
printf '\n\033[1m==> summary\033[0m\n'
echo "  lint (fmt, clippy): $([[ $lint_ok == yes ]] && echo clean || echo FAILED)"
for suite in "${suites[@]}"; do
  # A suite whose runner died before its summary line counts as failed.
  if [[ "${passed[$suite]}" == 0 && "${failed[$suite]}" == 0 ]]; then failed[$suite]=1; fi
  printf '  %-12s %4s passed  %4s failed\n' "$suite" "${passed[$suite]}" "${failed[$suite]}"
  total_passed=$((total_passed + passed[$suite]))
  total_failed=$((total_failed + failed[$suite]))
done
grep -hE '^faults: [0-9]+ injected' "$logs/faults.log" | sed 's/^/  /' || true
echo "${total_passed} passed, ${total_failed} failed"
if ((total_failed > 0)); then status=1; fi
exit "$status"
