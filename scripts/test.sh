#!/usr/bin/env bash
# The whole test suite: installs what the tests need (Debian packages, npm packages), builds, runs vitest.
set -euo pipefail
cd "$(dirname "$0")/.."
# What the tests use: the runtime, the base image, independent checkers (skopeo, umoci), a registry,
# a browser for the report page (chromium, driven by playwright-core).
bash scripts/ensure-packages.sh chromium runc busybox-static skopeo umoci docker-registry apache2-utils util-linux mount tar attr slirp4netns uidmap openssh-client bzip2 xz-utils zstd pigz e2fsprogs buildah git openssl tmux
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run build --silent
report=$(mktemp)
trap 'rm -f "$report"' EXIT
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
