#!/usr/bin/env bash
# Installs what building and running HakuRiver needs, and only what is missing:
#   - Debian packages: Docker engine (docker.io; dockerd is started if its socket does not
#     answer), busybox-static (the default environment on a machine without a registry),
#     openssh-client (`hakuriver ssh`), build tools
#   - the Rust wasm32 target and wasm-bindgen-cli (pinned: it must equal the wasm-bindgen crate)
#   - npm packages: binaryen (wasm-opt for release builds), xterm.js and its fit addon (the
#     dashboard's terminal)
# With --tests (scripts/test-all.sh), also what the test suites need:
#   - Chromium and, in end2end/, playwright-core (which drives it; no browser download),
#     debootstrap (the Debian sshd test image), systemd (only `systemd-analyze verify` for the
#     units `hakuriver init service` writes), util-linux (setpriv; mount for the fault suite's
#     small disks), iproute2 (the fault suite's network namespaces), postgresql (a throwaway
#     server per run), nginx (the reverse-proxy test), docker-registry and apache2-utils (a real
#     registry behind a login for the registry-image tests)
#   - for the fuzz suites: a pinned nightly Rust and cargo-fuzz (cargo-fuzz targets in fuzz/),
#     and schemathesis (PyPI, pinned) in a virtual environment under $HAKURIVER_TOOLS_DIR
#     (default /var/cache/hakuriver-tools) for the API fuzzing
# Idempotent, and quick when everything is present. Safe to source or run.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

WASM_BINDGEN_VERSION=0.2.129
FUZZ_TOOLCHAIN=nightly-2026-10-30
CARGO_FUZZ_VERSION=0.13.1
SCHEMATHESIS_VERSION=4.32.5
TOOLS_DIR=${HAKURIVER_TOOLS_DIR:-/var/cache/hakuriver-tools}
# What building and running a cluster needs; `--tests` adds what the test suites need.
APT_PACKAGES=(docker.io busybox-static openssh-client ca-certificates pkg-config gcc libc6-dev make)
TEST_PACKAGES=(chromium debootstrap systemd util-linux postgresql nginx python3-venv iproute2 docker-registry apache2-utils)
tests=no
for arg in "$@"; do
  case $arg in
    --tests) tests=yes ;;
    *) echo "usage: scripts/setup.sh [--tests]" >&2; exit 2 ;;
  esac
done
if [[ $tests == yes ]]; then APT_PACKAGES+=("${TEST_PACKAGES[@]}"); fi

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

as_root() {
  if [[ $EUID -eq 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root for: $*" >&2; return 1; fi
}

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  say "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  say "starting the Docker engine"
  if [[ $EUID -eq 0 ]]; then
    (nohup dockerd >/var/log/hakuriver-dockerd.log 2>&1 &)
  else
    as_root sh -c 'nohup dockerd >/var/log/hakuriver-dockerd.log 2>&1 &'
  fi
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { echo "dockerd did not start: see /var/log/hakuriver-dockerd.log" >&2; exit 1; }
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32 Rust target"
  rustup target add wasm32-unknown-unknown
fi

if [[ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]]; then
  say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes, once)"
  cargo install --locked --force wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi

# npm packages: binaryen's wasm-opt (release builds) and xterm.js at the top; with --tests,
# playwright-core in end2end/.
npm_dirs=(.)
if [[ $tests == yes ]]; then npm_dirs+=(end2end); fi
for dir in "${npm_dirs[@]}"; do
  if [[ ! -f $dir/node_modules/.package-lock.json || $dir/package-lock.json -nt $dir/node_modules/.package-lock.json ]]; then
    say "installing npm packages in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done

# The rest serves only the test suites.
[[ $tests == yes ]] || return 0 2>/dev/null || exit 0

if ! rustup toolchain list | grep -q "^$FUZZ_TOOLCHAIN"; then
  say "installing the Rust toolchain for cargo-fuzz ($FUZZ_TOOLCHAIN)"
  rustup toolchain install "$FUZZ_TOOLCHAIN" --profile minimal
fi

if [[ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]]; then
  say "installing cargo-fuzz $CARGO_FUZZ_VERSION (a minute, once)"
  cargo install --locked --force cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi

if [[ "$("$TOOLS_DIR/schemathesis/bin/schemathesis" --version 2>/dev/null)" != "schemathesis, version $SCHEMATHESIS_VERSION" ]]; then
  say "installing schemathesis $SCHEMATHESIS_VERSION into $TOOLS_DIR/schemathesis"
  as_root mkdir -p "$TOOLS_DIR"
  as_root python3 -m venv "$TOOLS_DIR/schemathesis"
  as_root "$TOOLS_DIR/schemathesis/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
