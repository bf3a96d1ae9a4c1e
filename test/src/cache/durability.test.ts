/**
 * Which store files are written with fsync (ARCHITECTURE.md "Every file is written temp → fsync → rename"):
 * cache records are; step memos (`CacheStore.putStep`) and blob sources (`BlobSources.add`) are not (their
 * readers ignore an unreadable file; a fresh store whose every step hits from a --cache-from source writes
 * one memo per step, and 2 fsyncs each were most of that build's wait). Counted with strace in a child
 * process running the real modules.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { transpileForChild } from '../content/transpile.js';

const execFileP = promisify(execFile);
let dir: string;
let script: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tsb-durability-'));
  const js = join(dir, 'js');
  const { mkdir } = await import('node:fs/promises');
  await mkdir(js);
  const store = await transpileForChild('src/cache/store.ts', js);
  const sources = await transpileForChild('src/registry/sources.ts', js);
  script = join(js, 'write.mjs');
  await writeFile(
    script,
    `import { CacheStore } from ${JSON.stringify(store)};
import { BlobSources } from ${JSON.stringify(sources)};
const [what, root] = process.argv.slice(2);
const cache = new CacheStore({ dir: root + '/cache', snapshotExists: async () => true });
const key = (i) => 'sha256:' + String(i).padStart(64, '0');
for (let i = 1; i <= 5; i++) {
  if (what === 'records') await cache.put({ key: key(i), snapshot: 'op:x', created: new Date(0).toISOString() });
  if (what === 'memos') await cache.putStep({ ids: [key(i)], key: key(i + 100), map: { tag: 'exec' }, files: { 0: [] , 1: [{ path: 'a' }] }, at: new Date(0).toISOString() });
  if (what === 'sources') await new BlobSources(root + '/sources').add(key(i), { domain: 'r.example', repository: 'app' });
}
`,
  );
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** fsync/fdatasync calls made by the child writing 5 files of `what`. */
async function syncs(what: string): Promise<number> {
  const root = await mkdtemp(join(dir, `${what}-`));
  const log = join(root, 'strace.txt');
  await execFileP('strace', ['-f', '-qq', '-e', 'trace=fsync,fdatasync', '-o', log, process.execPath, script, what, root]);
  return (await readFile(log, 'utf8')).split('\n').filter((l) => /\b(fsync|fdatasync)\(/.test(l)).length;
}

describe('fsync of store files', () => {
  it('cache records are written durably (the count works)', async () => {
    expect(await syncs('records')).toBeGreaterThanOrEqual(5);
  });

  it('step memos and blob sources are written without fsync', async () => {
    expect(await syncs('memos')).toBe(0);
    expect(await syncs('sources')).toBe(0);
  });
});
