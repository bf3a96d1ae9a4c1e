#!/usr/bin/env bash
# Debian's busybox-static for another architecture (default arm64), unpacked: prints the path of its busybox binary.
# Usage: scripts/ensure-foreign-busybox.sh [ARCH]   (as root; adds ARCH to dpkg's architectures and runs apt-get
# update the first time). The .deb comes from the machine's Debian mirror (apt-get download), nothing else.
# Cached under ${TSBUILD_TEST_CACHE:-/var/cache/tsbuild-test}/busybox-static-ARCH/.
set -euo pipefail
arch=${1:-arm64}
cache=${TSBUILD_TEST_CACHE:-/var/cache/tsbuild-test}/busybox-static-$arch
bin=$cache/root/bin/busybox
if [ ! -x "$bin" ]; then
  if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
    dpkg --add-architecture "$arch"
    apt-get update -qq
  fi
  mkdir -p "$cache/deb"
  if ! ls "$cache"/deb/busybox-static_*_"$arch".deb >/dev/null 2>&1; then
    (cd "$cache/deb" && apt-get download -qq "busybox-static:$arch" 2>&1 | grep -v unsandboxed || true) >&2
  fi
  deb=$(ls "$cache"/deb/busybox-static_*_"$arch".deb | head -1)
  rm -rf "$cache/root.tmp" && dpkg -x "$deb" "$cache/root.tmp" && rm -rf "$cache/root" && mv "$cache/root.tmp" "$cache/root"
fi
echo "$bin"
