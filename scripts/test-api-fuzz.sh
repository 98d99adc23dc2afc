#!/usr/bin/env bash
# Fuzzes the host's REST API with schemathesis, from its own OpenAPI document
# (GET /api/openapi.json): a real host with authentication on, on a throwaway SQLite file and the
# real Docker engine, no runner (so no fuzzed command ever runs). Three passes with a fixed seed:
# every person-facing operation with an admin token, then the runner protocol with the runner
# token, then what a `user` may submit with a user's token (the resource policy's fields must
# be refused, never accepted). Any 5xx fails (scripts/fuzz/hakuriver_checks.py; the one exception is the original's
# documented 503 for a submit no target took), as does an answer the document does not describe
# (status code, content type or body off its schema: the document is generated from the Rust
# types, so this checks the types against what the host really sends), a panic in the host's
# log, or fewer than MIN_CASES cases in all.
# Needs: target/debug/hakuriver-host (cargo build --bins) and scripts/setup.sh --tests's schemathesis.
set -euo pipefail
cd "$(dirname "$0")/.."
SEED=${FUZZ_SEED:-20261126}
EXAMPLES=${FUZZ_EXAMPLES:-100}
MIN_CASES=2000
CONFORMANCE=status_code_conformance,content_type_conformance,response_schema_conformance
ST=${HAKURIVER_TOOLS_DIR:-/var/cache/hakuriver-tools}/schemathesis/bin/schemathesis
[[ -x $ST ]] || { echo "schemathesis missing at $ST: run scripts/setup.sh --tests" >&2; exit 1; }

work=$(mktemp -d)
host_pid=
cleanup() { [[ -n $host_pid ]] && kill "$host_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)
admin=$(python3 -c 'import secrets; print(secrets.token_hex(24))')
runner=$(python3 -c 'import secrets; print(secrets.token_hex(24))')
cat > "$work/config.toml" <<TOML
[network]
host_port = $port
host_ssh_proxy_port = $(free_port)
[paths]
shared_dir = "shared"
local_temp_dir = "temp"
[database]
db_file = "host.db"
[auth]
enabled = true
runner_token = "$runner"
admin_token = "$admin"
TOML
HAKURIVER_HOME="$work/home" target/debug/hakuriver-host --config "$work/config.toml" > "$work/host.log" 2>&1 &
host_pid=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/api/openapi.json" >/dev/null && break; sleep 0.2; done

run_pass() {
  local name=$1 token=$2; shift 2
  echo "--- $name"
  PYTHONPATH=scripts/fuzz SCHEMATHESIS_HOOKS=hakuriver_checks "$ST" run "http://127.0.0.1:$port/api/openapi.json" \
    -H "Authorization: Bearer $token" --seed "$SEED" --max-examples "$EXAMPLES" -c "no_server_error,$CONFORMANCE${EXTRA_CHECKS:+,$EXTRA_CHECKS}" \
    --generation-with-security-parameters false --generation-database none --workers 1 --warnings off --no-color "$@" 2>&1 | tee "$work/$name.out"
}
rc=0
run_pass people "$admin" --exclude-path-regex '^/api/(register|update|heartbeat)' || rc=1
run_pass runners "$runner" --include-path-regex '^/api/(register|update|heartbeat)' || rc=1
# A user's token against what a user may submit: the policy's fields (privileged, mounts,
# container_name "NULL") must be refused with a 4xx, never accepted, never a 5xx.
user=$(curl -sf -H "Authorization: Bearer $admin" -H 'content-type: application/json' \
  -d '{"name": "fuzz-user", "role": "user"}' "http://127.0.0.1:$port/api/auth/tokens" \
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')
HAKURIVER_FUZZ_PASS=users EXTRA_CHECKS=policy_holds_for_users run_pass users "$user" \
  --include-path-regex '^/api/(submit|vps|kill|command)' || rc=1

cases=$(cat "$work"/people.out "$work"/runners.out "$work"/users.out | awk '/ generated/ { n += $1 } END { print n + 0 }')
ops_passed=$(cat "$work"/people.out "$work"/runners.out "$work"/users.out | awk '/Tested: / { n += $2 } END { print n + 0 }')
if grep -q "panicked" "$work/host.log"; then
  echo "the host panicked:"; grep -A5 "panicked" "$work/host.log"; rc=1
fi
if ((cases < MIN_CASES)); then echo "only $cases cases (at least $MIN_CASES expected)"; rc=1; fi
ops_failed=0
if ((rc != 0)); then ops_failed=$(cat "$work"/people.out "$work"/runners.out "$work"/users.out | grep -c '^_\+ [A-Z]\+ /' || true); ((ops_failed > 0)) || ops_failed=1; fi
echo "api-fuzz: $((ops_passed - ops_failed)) operations passed, $ops_failed failed, $cases cases, seed $SEED"
exit "$rc"
