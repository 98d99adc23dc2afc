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
# Waits (up to 60 s) until the command given succeeds, while host and runner still run.
wait_until() {
  local what=$1; shift
  for _ in $(seq 1 300); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    for pid in "${pids[@]}"; do
      kill -0 "$pid" 2>/dev/null || { echo "a daemon exited while waiting for $what; see the log above" >&2; exit 1; }
    done
    sleep 0.2
  done
  echo "timed out after 60 s waiting for $what; see the log above" >&2
  exit 1
}
node_online() { "$bin/hakuriver" "$@" node list --json | grep -q '"status": *"online"'; }
wait_until "the host" "$bin/hakuriver" "$@" health
"$bin/hakuriver-runner" "$@" &
pids+=($!)
wait_until "the runner's node to be online" node_online "$@"
echo
echo "HakuRiver is running: one host and one runner on this machine."
echo "  Dashboard:  $("$bin/hakuriver" "$@" dashboard)"
echo "  Nodes:      $bin/hakuriver node list"
echo "Press Ctrl-C to stop."
wait
