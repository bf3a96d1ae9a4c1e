// Bundle the compiled CLI (dist/src/cli/main.js) into dist/bundle/ with esbuild: one module graph resolved
// at build time instead of ~150 files resolved and loaded at every start (an unchanged rebuild is mostly
// startup). Commands stay lazily loaded (each `import()`ed module is evaluated when first imported).
// bin/tsbuild uses the bundle only when it is newer than the tsc output, so a plain `tsc` never runs stale code.
//
// The no-op rebuild path (src/cli/replay.ts) is bundled apart, as one CommonJS file with no imports but
// Node's own: bin/tsbuild requires it before anything else. Both bundles carry the same build id (a hash
// of the code bundled), which keys the rebuild memos (src/cli/rebuild-memo.ts).
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { build, transform } from 'esbuild';

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

// The CLI: one CommonJS file, loaded by bin/tsbuild with V8's code cache (src/cli/code-cache.ts): Node 20
// caches no ES module's compiled code, and compiling was ~60-80 ms of every build the memo cannot answer.
// Commands still load lazily: esbuild keeps each `import()`d module's top level unevaluated until it is
// imported. The entry also gives the replay the full registry client's tag check (src/cli/tag-check-full.ts),
// so that both come from one compiled file.
// `import('node:…')` left as is would need vm's experimental dynamic-import loader (src/cli/code-cache.ts):
// each becomes a bundled module that requires the built-in, so esbuild's import() is a require in a promise.
const builtinImports = {
  name: 'builtin-dynamic-imports',
  setup(b) {
    b.onResolve({ filter: /^node:/ }, (args) => (args.kind === 'dynamic-import' ? { path: args.path, namespace: 'builtin-import' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'builtin-import' }, (args) => ({ contents: `module.exports = require(${JSON.stringify(args.path)});`, loader: 'js' }));
  },
};
// undici's HTTP/2 client requires node:http2 when it loads, for its header-name constants, although only a
// dispatcher with allowH2 connects with it (ours never does): loading node:http2 and TLS took ~20 ms of every
// process that talks to a registry. It gets the constants (as this Node has them: fixed header names) and a
// `connect` that loads node:http2 when called.
const lazyHttp2 = {
  name: 'lazy-http2',
  setup(b) {
    b.onResolve({ filter: /^node:http2$/ }, (args) => (/undici[\\/]lib[\\/]dispatcher[\\/]client-h2\.js$/.test(args.importer) ? { path: 'node:http2', namespace: 'lazy-http2' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'lazy-http2' }, async () => {
      const { constants } = await import('node:http2');
      return { contents: `module.exports = { constants: ${JSON.stringify(constants)}, connect: (...a) => require('node:http2').connect(...a) };`, loader: 'js' };
    });
  },
};
const cli = await build({
  metafile: true,
  plugins: [builtinImports, lazyHttp2],
  stdin: {
    contents: "export { main } from './dist/src/cli/main.js';\nexport const fullTagCheck = () => import('./dist/src/cli/tag-check-full.js');\n",
    resolveDir: '.',
    sourcefile: 'cli-entry.js',
  },
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  outfile: 'dist/bundle/main.cjs',
  logLevel: 'warning',
  // The layer tar worker (src/diff/tar-producer.ts) is found beside the bundle from import.meta.url.
  define: { ...define, 'import.meta.url': '__tsbuildImportMetaUrl' },
  banner: { js: "var __tsbuildImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
});
// The CLI is read as Latin-1 when it is ASCII (src/cli/code-cache.ts): decoding 1.7 MB as UTF-8 took 11-25 ms
// once it held a single non-ASCII byte. esbuild escapes them in code; comments keep theirs. Escaped there too,
// after checking that the code itself (the file without comments, as esbuild prints it) has none left.
{
  const file = 'dist/bundle/main.cjs';
  const text = readFileSync(file, 'utf8');
  const code = (await transform(text, { minifyWhitespace: true, charset: 'ascii', legalComments: 'none', format: 'cjs', platform: 'node' })).code;
  const stray = /[^\x00-\x7f]/.exec(code);
  if (stray) throw new Error(`${file}: a non-ASCII character outside comments (${JSON.stringify(code.slice(Math.max(0, stray.index - 40), stray.index + 10))}): escape it in the source`);
  writeFileSync(file, text.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
}
const dynamic = Object.values(cli.metafile.inputs).flatMap((i) => i.imports.filter((x) => x.kind === 'dynamic-import' && x.external).map((x) => x.path));
if (dynamic.length) throw new Error(`dist/bundle/main.cjs would import() ${dynamic.join(', ')} at run time: vm.Script cannot (src/cli/code-cache.ts)`);

// The layer tar worker (a worker thread's own ES module).
await build({
  entryPoints: { 'tar-worker': 'dist/src/diff/tar-worker.js' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  outdir: 'dist/bundle',
  logLevel: 'warning',
  define,
  banner: { js: "import { createRequire as __tsbuildRequire } from 'node:module'; const require = __tsbuildRequire(import.meta.url);" },
});

// The code-cache loader bin/tsbuild requires before the CLI bundle.
await build({
  entryPoints: ['dist/src/cli/code-cache.js'],
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  outfile: 'dist/bundle/code-cache.cjs',
  logLevel: 'warning',
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
