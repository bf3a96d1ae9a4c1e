#!/usr/bin/env bash
# The whole test suite: installs what the tests need (Debian packages, npm packages), builds, runs vitest.
set -euo pipefail
cd "$(dirname "$0")/.."
# What the tests use: the runtime, the base image, independent checkers (skopeo, umoci), a registry,
# a browser for the report page (chromium, driven by playwright-core).
bash scripts/ensure-packages.sh chromium runc busybox-static skopeo umoci docker-registry apache2-utils util-linux mount tar attr slirp4netns uidmap openssh-client bzip2 xz-utils zstd pigz e2fsprogs buildah git openssl tmux qemu-user-static
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run build --silent
# The reference BuildKit for test/e2e/differential-buildkit.test.ts (fetched from Debian's mirror the first time).
# When it cannot be fetched or started, that suite fails (it never skips); the other tests still run.
ref=../shared/reference/buildkit.sh
ref_started=
if ! DOCKER_HOST=unix://${REF_RUN:-/tmp/tsbuild-reference}/docker.sock DOCKER_CONFIG=${REF_DIR:-/var/cache/tsbuild-reference}/root/cli-config \
     "${REF_DIR:-/var/cache/tsbuild-reference}/root/usr/bin/docker" info >/dev/null 2>&1; then
  if bash "$ref" start; then ref_started=1; else echo "reference BuildKit did not start: the differential suite will fail" >&2; fi
fi
report=$(mktemp)
trap 'rm -f "$report"; if [ -n "$ref_started" ]; then bash "$ref" stop; fi' EXIT
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?
# A plain closing line that any CI reader understands. A test file that fails to load (or fails in a hook outside
# any test) counts as one failure: it ran no test, so it must not vanish from the count.
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const brokenFiles = r.testResults.filter((f) => f.status === "failed" && !f.assertionResults.some((a) => a.status === "failed")).length;
  const failed = r.numFailedTests + brokenFiles;
  console.log(`tests: ${r.numPassedTests} passed, ${failed} failed` + (brokenFiles ? ` (${brokenFiles} test files failed outside any test)` : "") + (r.numPendingTests ? `, ${r.numPendingTests} skipped` : ""));
  process.exit(0);
' "$report" 2>/dev/null || { echo "tests: 0 passed, 1 failed (no test report)"; status=1; }
exit $status
