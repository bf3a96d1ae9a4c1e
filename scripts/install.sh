#!/usr/bin/env bash
# One-command set-up on a fresh Debian machine, as root: system packages, npm packages, the
# TypeScript build, a local base image made from busybox-static, then a real build of the example.
set -euo pipefail
cd "$(dirname "$0")/.."
# runc runs RUN steps; busybox-static makes the local base image; mount and attr (getfattr/setfattr) for overlayfs;
# zstd for zstd layers (compression=zstd), pigz for fast parallel gzip of layers; qemu-user-static runs RUN steps of
# other platforms (--platform linux/arm64 on amd64): tsbuild registers its emulators with binfmt_misc (F flag) when a
# build needs one.
bash scripts/ensure-packages.sh runc busybox-static util-linux mount attr slirp4netns uidmap bzip2 xz-utils zstd pigz qemu-user-static
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run build --silent
# `tsbuild` on PATH: a symlink to this checkout's bin/tsbuild (bin/tsbuild finds dist/ next to itself).
ln -sfn "$PWD/bin/tsbuild" /usr/local/bin/tsbuild
# The base image the example builds FROM (skipped when the store has it already).
if ! ./bin/tsbuild images | grep -q '^busybox '; then
  bash scripts/make-base-image.sh
fi
tsbuild build --progress plain -t hello:v1 test/fixtures/examples/hello
tsbuild images
