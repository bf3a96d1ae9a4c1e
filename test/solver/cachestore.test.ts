import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256 } from '../../src/llb/digest.js';
import { CacheStore } from '../../solver/cachestore.js';
import { OutputTail } from '../../solver/ops/exec/run.js';
import { chainIDs } from '../../solver/ops/image/resolve.js';

let dir: string;
const existing = new Set<string>();
const store = () => new CacheStore({ dir, snapshotExists: async (n) => existing.has(n) });

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tsbuild-cachestore-'));
  existing.clear();
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('CacheStore', () => {
  const key = sha256('k');

  it('writes records at records/<hex>.json and reads them back', async () => {
    existing.add('op:1');
    const layer = { diffID: sha256('d'), descriptor: { mediaType: 'm', digest: sha256('b'), size: 3 } };
    await store().put({ key, snapshot: 'op:1', layer, created: '2026-01-01T00:00:00.000Z' });
    expect(await readdir(join(dir, 'records'))).toEqual([`${key.slice(7)}.json`]);
    expect(JSON.parse(await readFile(join(dir, 'records', `${key.slice(7)}.json`), 'utf8'))).toMatchObject({ key, snapshot: 'op:1' });
    expect(await store().get(key)).toEqual({ key, snapshot: 'op:1', layer, created: '2026-01-01T00:00:00.000Z' });
    const all = [];
    for await (const r of store().list()) all.push(r.key);
    expect(all).toEqual([key]);
  });


  it('a record whose snapshot is gone is a miss and is deleted', async () => {
    await store().put({ key, snapshot: 'op:gone', created: 'x' });
    expect(await store().get(key)).toBeUndefined();
    expect(await readdir(join(dir, 'records'))).toEqual([]);
  });

  it('a corrupt record is a miss and is deleted; a missing one is a miss', async () => {
    await mkdir(join(dir, 'records'), { recursive: true });
    await writeFile(join(dir, 'records', `${key.slice(7)}.json`), '{"key":');
    expect(await store().get(key)).toBeUndefined();
    expect(await readdir(join(dir, 'records'))).toEqual([]);
    expect(await store().get(sha256('other'))).toBeUndefined();
  });

  it('rejects what is not a cache key', () => {
    expect(() => store().recordPath('../../etc/passwd')).toThrow(/not a cache key/);
  });
});

describe('chainIDs', () => {
  it('follows the OCI definition', () => {
    const [a, b, c] = [sha256('a'), sha256('b'), sha256('c')];
    const h = (s: string) => 'sha256:' + createHash('sha256').update(s).digest('hex');
    const ab = h(`${a} ${b}`);
    expect(chainIDs([a, b, c])).toEqual([a, ab, h(`${ab} ${c}`)]);
    expect(chainIDs([])).toEqual([]);
  });
});

describe('OutputTail', () => {
  it('keeps the last lines across chunk boundaries', () => {
    const t = new OutputTail();
    for (let i = 1; i <= 100; i++) t.push(Buffer.from(`line ${i}\n`));
    t.push(Buffer.from('partial'));
    expect(t.text(3)).toBe('line 99\nline 100\npartial');
    expect(new OutputTail().text()).toBe('');
  });

  it('bounds its memory', () => {
    const t = new OutputTail();
    for (let i = 0; i < 1000; i++) t.push(Buffer.alloc(1024, 'a'));
    t.push(Buffer.from('\nlast\n'));
    expect(t.text(1)).toBe('last');
  });
});
