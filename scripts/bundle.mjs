// Bundle the compiled CLI (dist/src/cli/main.js) into dist/bundle/ with esbuild: one module graph resolved
// at build time instead of ~150 files resolved and loaded at every start (an unchanged rebuild is mostly
// startup). Commands stay lazily loaded (code splitting keeps each `import()` its own chunk).
// bin/tsbuild uses the bundle only when it is newer than the tsc output, so a plain `tsc` never runs stale code.
//
// The no-op rebuild path (src/cli/replay.ts) is bundled apart, as one CommonJS file with no imports but
// Node's own: bin/tsbuild requires it before anything else. Both bundles carry the same build id (a hash
// of the code bundled), which keys the rebuild memos (src/cli/rebuild-memo.ts).
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

// Chunk names carry content hashes: start from an empty folder so old chunks do not pile up.
rmSync('dist/bundle', { recursive: true, force: true });

const id = createHash('sha256');
const hashTree = (dir) => {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) hashTree(p);
    else if (name.endsWith('.js')) id.update(p).update(readFileSync(p));
  }
};
for (const d of ['dist/src', 'dist/frontend', 'dist/solver', 'dist/exporters']) hashTree(d);
id.update(readFileSync('package-lock.json'));
// The package version is baked in too: `tsbuild --version` reads no file at startup.
const { version } = JSON.parse(readFileSync('package.json', 'utf8'));
const define = { __TSBUILD_BUILD_ID__: JSON.stringify(id.digest('hex')), __TSBUILD_VERSION__: JSON.stringify(version) };

await build({
  // The layer tar worker (src/diff/tar-producer.ts) is started from `./tar-worker.js` beside the chunk.
  // The rebuild memo's full registry check (src/cli/tag-check-full.ts) is loaded by the replay, apart from main.
  entryPoints: { main: 'dist/src/cli/main.js', 'tar-worker': 'dist/src/diff/tar-worker.js', 'tag-check-full': 'dist/src/cli/tag-check-full.js' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  splitting: true,
  outdir: 'dist/bundle',
  logLevel: 'warning',
  define,
  // CommonJS dependencies (dockerfile-ast) call require() for Node built-ins.
  banner: { js: "import { createRequire as __tsbuildRequire } from 'node:module'; const require = __tsbuildRequire(import.meta.url);" },
});

await build({
  entryPoints: ['dist/src/cli/replay.js'],
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  outfile: 'dist/bundle/replay.cjs',
  logLevel: 'warning',
  define,
});
