#!/usr/bin/env bash
# The PostgreSQL suite: starts a throwaway PostgreSQL server (Debian's package; a fresh cluster
# in a temporary folder, trust authentication on 127.0.0.1 and a free port), runs the host's
# store tests against it (the same tests run on SQLite in the unit suite) and the real host and
# runner binaries with `[database] url` pointing at it, then stops and removes the server.
# Needs root (the server runs as the `postgres` user). scripts/setup.sh --tests installs the package.
set -euo pipefail
cd "$(dirname "$0")/.."

pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[[ -x "$pg_bin/initdb" ]] || { echo "PostgreSQL is not installed: run scripts/setup.sh --tests" >&2; exit 1; }
dir=$(mktemp -d /tmp/hakuriver-pg.XXXXXX)
chown postgres "$dir"
port=
for candidate in $(shuf -i 20000-32000 -n 50); do
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then port=$candidate; break; fi
done
[[ -n $port ]] || { echo "no free port found" >&2; exit 1; }
as_pg() { runuser -u postgres -- "$@"; }
stop() {
  as_pg "$pg_bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop EXIT
as_pg "$pg_bin/initdb" -D "$dir/data" --auth=trust -U postgres >/dev/null
as_pg "$pg_bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
as_pg "$pg_bin/createdb" -h 127.0.0.1 -p "$port" -U postgres hakuriver_itest
echo "PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"

export HAKURIVER_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
export HAKURIVER_TEST_POSTGRES_HOST_URL="postgres://postgres@127.0.0.1:$port/hakuriver_itest"
cargo test --locked --no-fail-fast -p hakuriver-host --lib db::
# The itest files whose first line is `// suite: postgres`.
pg_tests=()
for file in itest/tests/*.rs; do
  if [[ $(head -1 "$file") == "// suite: postgres" ]]; then pg_tests+=(--test "$(basename "$file" .rs)"); fi
done
cargo test --locked --no-fail-fast -p hakuriver-itest "${pg_tests[@]}"

