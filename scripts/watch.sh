#!/usr/bin/env bash
# The dashboard's edit → reload loop: runs the host and one local runner (as dev-cluster.sh
# does), and whenever a file of the dashboard or the host changes, rebuilds what changed (the
# site for app/, frontend/, style/ and public/; the host too for app/, model/ and server/, which
# render the pages), restarts the host and says when the page can be reloaded. The runner keeps
# running across host restarts (it re-registers by itself). Polls once a second; needs nothing
# beyond setup.sh. Where cargo-leptos is installed, `cargo leptos watch` reads the same settings
# (Leptos.toml's values in Cargo.toml) and reloads the page by itself.
#
# usage: scripts/watch.sh [host and runner arguments, e.g. --config FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh

bin=target/debug
host=""
runner=""
stop() {
  trap - INT TERM EXIT
  for pid in $host $runner; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "watch stopped"
}
trap stop INT TERM EXIT

start_host() {
  "$bin/hakuriver-host" "$@" &
  host=$!
  for _ in $(seq 1 300); do
    if "$bin/hakuriver" "$@" health >/dev/null 2>&1; then return 0; fi
    kill -0 "$host" 2>/dev/null || { echo "the host exited; fix the above and save again" >&2; host=""; return 0; }
    sleep 0.2
  done
}

# The newest modification time (seconds) under the given folders (not what build-site.sh vendors).
newest() { find "$@" -path public/xterm -prune -o -type f -printf '%T@\n' 2>/dev/null | sort -n | tail -1; }

site_dirs=(app frontend style public)
host_dirs=(app model server)
start_host "$@"
"$bin/hakuriver-runner" "$@" &
runner=$!
echo "Dashboard: $("$bin/hakuriver" "$@" dashboard) — edit, save, and reload the page when told."
site_seen=$(newest "${site_dirs[@]}")
host_seen=$(newest "${host_dirs[@]}")
while sleep 1; do
  site_now=$(newest "${site_dirs[@]}")
  host_now=$(newest "${host_dirs[@]}")
  [[ $site_now != "$site_seen" || $host_now != "$host_seen" ]] || continue
  if [[ $site_now != "$site_seen" ]]; then
    echo "== rebuilding the site"
    scripts/build-site.sh || { echo "site build failed; fix and save again"; site_seen=$site_now; continue; }
  fi
  echo "== rebuilding the host"
  if cargo build --locked --bin hakuriver-host; then
    [[ -n $host ]] && { kill -TERM "$host" 2>/dev/null || true; wait "$host" 2>/dev/null || true; }
    start_host "$@"
    echo "== ready: reload the page"
  else
    echo "host build failed; fix and save again"
  fi
  site_seen=$site_now
  host_seen=$host_now
done
