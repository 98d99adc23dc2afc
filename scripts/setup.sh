#!/usr/bin/env bash
# Installs what building, running and testing HakuRiver needs, and only what is missing:
#   - Debian packages: Docker engine (docker.io), Chromium (browser tests), busybox-static and
#     debootstrap (test images), openssh-client (`hakuriver ssh`, VPS tests), systemd (only its
#     `systemd-analyze verify` for the units `hakuriver init service` writes; nothing is started),
#     util-linux (setpriv, to run daemons as another user in tests; mount for the fault suite's
#     small disks), iproute2 (the fault suite's network namespaces), postgresql (the PostgreSQL
#     suite starts its own throwaway server; the package's own cluster is not used), nginx (the
#     reverse-proxy test runs its own instance from docs/nginx/hakuriver.conf), build tools; then starts
#     dockerd if its socket does not answer
#   - the Rust wasm32 target and wasm-bindgen-cli (pinned: it must equal the wasm-bindgen crate)
#   - npm packages: binaryen (wasm-opt for release builds), xterm.js and its fit addon (the
#     dashboard's terminal) and, in end2end/, playwright-core
#     (which drives Debian's Chromium; no browser download)
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
APT_PACKAGES=(docker.io chromium busybox-static debootstrap openssh-client ca-certificates pkg-config gcc libc6-dev make systemd util-linux postgresql nginx python3-venv iproute2 docker-registry apache2-utils)

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

# npm packages: binaryen's wasm-opt (release builds) at the top, playwright-core in end2end/.
for dir in . end2end; do
  if [[ ! -f $dir/node_modules/.package-lock.json || $dir/package-lock.json -nt $dir/node_modules/.package-lock.json ]]; then
    say "installing npm packages in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done

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
