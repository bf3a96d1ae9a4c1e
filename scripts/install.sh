#!/usr/bin/env bash
# One-command set-up on a fresh Debian machine, as root: system packages, npm packages, the
# TypeScript build, a local base image made from busybox-static, then a real build of the example.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
for p in runc busybox-static util-linux mount attr; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run build --silent
# The base image the example builds FROM (skipped when the store has it already).
if ! ./bin/tsbuild images | grep -q '^busybox '; then
  bash scripts/make-base-image.sh
fi
./bin/tsbuild build --progress plain -t hello:v1 test/fixtures/examples/hello
./bin/tsbuild images
