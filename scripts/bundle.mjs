// Bundle the compiled CLI (dist/src/cli/main.js) into dist/bundle/ with esbuild: one module graph resolved
// at build time instead of ~150 files resolved and loaded at every start (an unchanged rebuild is mostly
// startup). Commands stay lazily loaded (code splitting keeps each `import()` its own chunk).
// bin/tsbuild uses the bundle only when it is newer than the tsc output, so a plain `tsc` never runs stale code.
import { rmSync } from 'node:fs';
import { build } from 'esbuild';

// Chunk names carry content hashes: start from an empty folder so old chunks do not pile up.
rmSync('dist/bundle', { recursive: true, force: true });

await build({
  entryPoints: { main: 'dist/src/cli/main.js' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  splitting: true,
  outdir: 'dist/bundle',
  logLevel: 'warning',
  // CommonJS dependencies (dockerfile-ast) call require() for Node built-ins.
  banner: { js: "import { createRequire as __tsbuildRequire } from 'node:module'; const require = __tsbuildRequire(import.meta.url);" },
});
