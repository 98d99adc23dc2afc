#!/usr/bin/env bash
# Builds the Docker image `hakuriver/hakuriver-test-sshd:base` (Debian bookworm, minbase, with
# openssh-server and python3) for the VPS tests, without a registry: debootstrap a root file
# system once, cache it as a tar outside the checkout, and `docker import` it.
#   Cache: $HAKURIVER_TEST_CACHE (default /var/cache/hakuriver-test)/debian-sshd-bookworm.tar
# Quick when the image or the cached tar exists. Needs root (debootstrap) and the Docker engine.
set -euo pipefail
IMAGE=hakuriver/hakuriver-test-sshd:base
CACHE_DIR=${HAKURIVER_TEST_CACHE:-/var/cache/hakuriver-test}
TAR=$CACHE_DIR/debian-sshd-bookworm.tar
MIRROR=${HAKURIVER_DEBIAN_MIRROR:-http://deb.debian.org/debian}

if docker image inspect "$IMAGE" >/dev/null 2>&1; then exit 0; fi
if [[ ! -s $TAR ]]; then
  command -v debootstrap >/dev/null || { echo "debootstrap is missing: apt-get install debootstrap" >&2; exit 1; }
  mkdir -p "$CACHE_DIR"
  root=$(mktemp -d "$CACHE_DIR/rootfs.XXXXXX")
  trap 'rm -rf "$root"' EXIT
  echo "==> debootstrap bookworm with openssh-server (about a minute, once; cached in $TAR)"
  debootstrap --variant=minbase --include=openssh-server,python3 bookworm "$root" "$MIRROR" >"$CACHE_DIR/debootstrap.log" 2>&1 ||
    { tail -20 "$CACHE_DIR/debootstrap.log" >&2; exit 1; }
  # No host keys in the image: each container makes its own.
  rm -f "$root"/etc/ssh/ssh_host_*
  tar -C "$root" -cf "$TAR.partial" . && mv "$TAR.partial" "$TAR"
fi
docker import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' "$TAR" "$IMAGE" >/dev/null
echo "==> built $IMAGE"
