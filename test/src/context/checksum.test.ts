import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { selectSources } from '../../../src/context/select.js';
import { checksumSelection, checksumSelectionDetailed } from '../../../src/context/checksum.js';
import { StatCache } from '../../../src/context/statcache.js';
import { DockerIgnoreMatcher } from '../../../src/context/dockerignore.js';

let tmp: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'tsbuild-checksum-'));
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

function tree(dir: string): void {
  mkdirSync(join(dir, 'app/lib'), { recursive: true });
  writeFileSync(join(dir, 'app/main.js'), 'console.log(1)\n');
  writeFileSync(join(dir, 'app/lib/x.js'), 'export const x = 1\n');
  symlinkSync('lib/x.js', join(dir, 'app/x.js'));
  writeFileSync(join(dir, 'package.json'), '{}\n');
}

async function sum(root: string, sources: string[], opts: { cache?: StatCache; exclude?: string[]; owners?: boolean } = {}): Promise<string> {
  const sel = await selectSources({
    root,
    sources,
    allowWildcard: true,
    followSymlinks: true,
    ...(opts.exclude ? { exclude: new DockerIgnoreMatcher(opts.exclude) } : {}),
  });
  return checksumSelection(sel, { ...(opts.cache ? { statCache: opts.cache } : {}), includeOwnership: opts.owners ?? false });
}

const select = (root: string, sources: string[]) => selectSources({ root, sources, allowWildcard: true, followSymlinks: true });

describe('checksumSelection', () => {
  it('is stable under mtime changes and changes with mode, content, names and link targets', async () => {
    const a = join(tmp, 'a');
    tree(a);
    const base = await sum(a, ['app', 'package.json']);
    expect(base).toMatch(/^sha256:[0-9a-f]{64}$/);
    utimesSync(join(a, 'app/main.js'), new Date(2001, 1, 1), new Date(2001, 1, 1));
    expect(await sum(a, ['app', 'package.json'])).toBe(base);

    chmodSync(join(a, 'app/main.js'), 0o755);
    const modeChanged = await sum(a, ['app', 'package.json']);
    expect(modeChanged).not.toBe(base);
    chmodSync(join(a, 'app/main.js'), 0o644);
    expect(await sum(a, ['app', 'package.json'])).toBe(base);

    writeFileSync(join(a, 'app/main.js'), 'console.log(2)\n');
    expect(await sum(a, ['app', 'package.json'])).not.toBe(base);
    writeFileSync(join(a, 'app/main.js'), 'console.log(1)\n');
    expect(await sum(a, ['app', 'package.json'])).toBe(base);

    rmSync(join(a, 'app/x.js'));
    symlinkSync('lib/y.js', join(a, 'app/x.js'));
    expect(await sum(a, ['app', 'package.json'])).not.toBe(base);
  });

  it('gives the same digest for identical content in another directory', async () => {
    const a = join(tmp, 'a');
    const b = join(tmp, 'elsewhere/b');
    tree(a);
    tree(b);
    expect(await sum(b, ['app', 'package.json'])).toBe(await sum(a, ['app', 'package.json']));
    // same file under another directory path, same base name
    mkdirSync(join(b, 'other'), { recursive: true });
    writeFileSync(join(b, 'other/package.json'), '{}\n');
    expect(await sum(b, ['other/package.json'])).toBe(await sum(a, ['package.json']));
    // a file's base name is part of what lands in the destination
    writeFileSync(join(b, 'other/pkg.json'), '{}\n');
    expect(await sum(b, ['other/pkg.json'])).not.toBe(await sum(a, ['package.json']));
  });

  it('covers only the selected files (.dockerignore applied)', async () => {
    const a = join(tmp, 'a');
    tree(a);
    const withIgnore = await sum(a, ['app'], { exclude: ['app/lib'] });
    writeFileSync(join(a, 'app/lib/x.js'), 'changed');
    expect(await sum(a, ['app'], { exclude: ['app/lib'] })).toBe(withIgnore);
    expect(await sum(a, ['app'])).not.toBe(withIgnore);
  });

  it('counts ownership only when asked', async () => {
    const a = join(tmp, 'a');
    tree(a);
    const noOwn = await sum(a, ['app']);
    const own = await sum(a, ['app'], { owners: true });
    const { lchownSync } = await import('node:fs');
    lchownSync(join(a, 'app/main.js'), 1234, 1234);
    expect(await sum(a, ['app'])).toBe(noOwn);
    expect(await sum(a, ['app'], { owners: true })).not.toBe(own);
  });

  it('uses a persistent stat cache, and re-reads a changed file', async () => {
    const a = join(tmp, 'a');
    tree(a);
    const old = new Date(Date.now() - 60_000);
    for (const f of ['app/main.js', 'app/lib/x.js', 'package.json']) utimesSync(join(a, f), old, old);
    const cacheDir = join(tmp, 'cache');
    const c1 = await StatCache.open(cacheDir);
    const d1 = await sum(a, ['app', 'package.json'], { cache: c1 });
    await c1.flush();
    expect(existsSync(join(cacheDir, 'statcache.json'))).toBe(true);
    expect(c1.size).toBe(3);

    // Prove the cache is used: poison a cached hash on disk; the digest follows the cached value.
    const file = join(cacheDir, 'statcache.json');
    const data = JSON.parse(readFileSync(file, 'utf8')) as { entries: Record<string, unknown[]> };
    data.entries[join(a, 'package.json')]![5] = '0'.repeat(64);
    writeFileSync(file, JSON.stringify(data));
    rmSync(join(cacheDir, 'selections.json'), { force: true }); // else the whole selection's fingerprint answers first
    const c2 = await StatCache.open(cacheDir);
    const poisoned = await sum(a, ['app', 'package.json'], { cache: c2 });
    expect(poisoned).not.toBe(d1);

    // A real change (new size/mtime/ctime) invalidates the entry: the file is read again.
    writeFileSync(join(a, 'package.json'), '{"a":1}\n');
    writeFileSync(join(a, 'package.json'), '{}\n');
    utimesSync(join(a, 'package.json'), old, old); // same mtime as before; ctime still differs
    const c3 = await StatCache.open(cacheDir);
    expect(await sum(a, ['app', 'package.json'], { cache: c3 })).toBe(d1);
  });

  it('an unchanged selection takes its checksum from its fingerprint without reading per-file rows', async () => {
    const a = join(tmp, 'fp');
    tree(a);
    const old = new Date(Date.now() - 60_000);
    for (const f of ['app/main.js', 'app/lib/x.js', 'package.json', 'app/lib', 'app']) utimesSync(join(a, f), old, old);
    await new Promise((r) => setTimeout(r, 1100)); // ctimes must be older than the racy window
    const cacheDir = join(tmp, 'fpcache');
    const c1 = await StatCache.open(cacheDir);
    const first = await checksumSelectionDetailed(await select(a, ['app', 'package.json']), { statCache: c1 });
    expect(first.files?.length).toBeGreaterThan(0);
    await c1.flush();
    // Poison every per-file row: an unchanged selection never looks at them.
    writeFileSync(join(cacheDir, 'statcache.json'), '{"version":1,"entries":{}}');
    const c2 = await StatCache.open(cacheDir);
    const again = await checksumSelectionDetailed(await select(a, ['app', 'package.json']), { statCache: c2 });
    expect(again).toEqual({ digest: first.digest });
    // Any stat change (here: a touch) misses the fingerprint; the content still gives the same digest.
    utimesSync(join(a, 'package.json'), new Date(), new Date());
    const c3 = await StatCache.open(cacheDir);
    const touched = await checksumSelectionDetailed(await select(a, ['app', 'package.json']), { statCache: c3 });
    expect(touched.digest).toBe(first.digest);
    expect(touched.files).toEqual(first.files);
  });

  it('does not cache a file modified just now (racy)', async () => {
    const a = join(tmp, 'a');
    tree(a);
    const c = await StatCache.open(join(tmp, 'cache'));
    await sum(a, ['package.json'], { cache: c });
    expect(c.size).toBe(0);
  });

  it('hashes 2,000 small files once: a warm stat cache answers without reading any file again', async () => {
    const a = join(tmp, 'many');
    const old = new Date(Date.now() - 60_000);
    for (let d = 0; d < 20; d++) {
      mkdirSync(join(a, `d${d}`), { recursive: true });
      for (let f = 0; f < 100; f++) {
        const p = join(a, `d${d}/f${f}.txt`);
        writeFileSync(p, `file ${d}/${f}\n`.repeat(20));
        utimesSync(p, old, old);
      }
    }
    // store() is called once per file that was read and hashed: count the reads, not the milliseconds.
    const countReads = (c: StatCache): { n: number } => {
      const reads = { n: 0 };
      const store = c.store.bind(c);
      c.store = (...args: Parameters<StatCache['store']>) => {
        reads.n++;
        store(...args);
      };
      return reads;
    };
    const cache = await StatCache.open(join(tmp, 'cache'));
    const coldReads = countReads(cache);
    const d1 = await sum(a, ['.'], { cache });
    expect(coldReads.n).toBe(2000);
    await cache.flush();
    const warmCache = await StatCache.open(join(tmp, 'cache'));
    const warmReads = countReads(warmCache);
    const d2 = await sum(a, ['.'], { cache: warmCache });
    expect(d2).toBe(d1);
    expect(warmReads.n).toBe(0);
  });
});
