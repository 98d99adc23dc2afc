#!/usr/bin/env bash
# Quick start: installs what is missing, builds, and runs a single-machine cluster (one host and
# one local runner) in the foreground on built-in defaults (data in ~/.hakuriver, or
# $HAKURIVER_HOME). Prints the dashboard URL. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh

bin=target/debug
pids=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "cluster stopped"
}
trap stop INT TERM EXIT

"$bin/hakuriver-host" "$@" &
pids+=($!)
for _ in $(seq 1 100); do
  if "$bin/hakuriver" "$@" nodes >/dev/null 2>&1; then break; fi
  kill -0 "${pids[0]}" 2>/dev/null || { echo "the host exited; see the log above" >&2; exit 1; }
  sleep 0.2
done
"$bin/hakuriver-runner" "$@" &
pids+=($!)
for _ in $(seq 1 100); do
  [[ "$("$bin/hakuriver" "$@" nodes 2>/dev/null | wc -l)" -gt 1 ]] && break
  sleep 0.2
done
echo
echo "HakuRiver is running: one host and one runner on this machine."
echo "  Dashboard:  $("$bin/hakuriver" "$@" dashboard)"
echo "  Nodes:      $bin/hakuriver node list"
echo "Press Ctrl-C to stop."
wait
