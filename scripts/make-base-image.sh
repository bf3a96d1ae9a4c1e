#!/usr/bin/env bash
# Build the local base image "busybox:latest" from Debian's busybox-static, with tsbuild itself.
# Usage: scripts/make-base-image.sh [--root DIR] [NAME]   (no downloads: only /bin/busybox is used)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
root_args=()
if [ "${1:-}" = "--root" ]; then root_args=(--root "$2"); shift 2; fi
name=${1:-busybox:latest}
bb=$(command -v busybox || true)
[ -n "$bb" ] || bb=/bin/busybox
if [ ! -x "$bb" ]; then
  echo "make-base-image: busybox not found; install Debian's busybox-static" >&2; exit 1
fi
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp "$here/test/fixtures/base/busybox/Dockerfile" "$ctx/Dockerfile"
cp "$(readlink -f "$bb")" "$ctx/busybox"
mkdir -p "$ctx/mountpoints/proc" "$ctx/mountpoints/dev" "$ctx/mountpoints/sys" "$ctx/mountpoints/etc"
: > "$ctx/mountpoints/etc/hosts"; : > "$ctx/mountpoints/etc/resolv.conf"; : > "$ctx/mountpoints/etc/hostname"
"$here/bin/tsbuild" build "${root_args[@]}" --progress plain -t "$name" "$ctx"
