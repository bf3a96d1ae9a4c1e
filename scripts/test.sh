#!/usr/bin/env bash
# The whole test suite: installs what the tests need (Debian packages, npm packages), builds, runs vitest.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
for p in runc busybox-static skopeo umoci docker-registry util-linux tar attr; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing Debian packages for the tests: ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run build --silent
exec npx vitest run "$@"
