import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DigestMismatchError } from '../../../src/errors.js';
import type { ContentStore } from '../../../src/content/types.js';

/**
 * The ContentStore conformance suite, written once and run against every implementation.
 * `create(root)` returns a store on an empty directory; `spawnPartialWriter` starts a child
 * process that opens a writer on the same root, writes `bytes` bytes, prints "ready" and waits to be killed.
 */
export interface ContentStoreHarness {
  name: string;
  create(root: string): ContentStore;
  spawnPartialWriter(root: string, bytes: number): Promise<ChildProcess>;
}

const digestOf = (b: Uint8Array) => 'sha256:' + createHash('sha256').update(b).digest('hex');

async function listAll(store: ContentStore): Promise<string[]> {
  const out: string[] = [];
  for await (const b of store.list()) out.push(b.digest);
  return out;
}

async function filesUnder(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true, withFileTypes: true }))
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath ?? (d as unknown as { path: string }).path, d.name));
}

export function contentStoreConformance(h: ContentStoreHarness): void {
  describe(`ContentStore conformance: ${h.name}`, () => {
    let root: string;
    let store: ContentStore;
    beforeEach(async () => {
      root = join(await mkdtemp(join(tmpdir(), 'tsb-content-')), 'content');
      store = h.create(root);
    });
    afterEach(async () => {
      await rm(join(root, '..'), { recursive: true, force: true });
    });

    it('put then read, info, has, list, delete', async () => {
      const data = Buffer.from('hello content store\n');
      const info = await store.put(data);
      expect(info).toEqual({ digest: digestOf(data), size: data.length });
      expect(await store.has(info.digest)).toBe(true);
      expect(await store.info(info.digest)).toEqual(info);
      expect(Buffer.compare(await store.read(info.digest), data)).toBe(0);
      const streamed: Buffer[] = [];
      for await (const c of store.createReadStream(info.digest)) streamed.push(c as Buffer);
      expect(Buffer.concat(streamed).equals(data)).toBe(true);
      expect(await listAll(store)).toEqual([info.digest]);
      await store.delete(info.digest);
      expect(await store.has(info.digest)).toBe(false);
      expect(await store.info(info.digest)).toBeUndefined();
      await expect(store.read(info.digest)).rejects.toMatchObject({ code: 'BLOB_NOT_FOUND' });
    });

    it('rejects malformed digests', async () => {
      await expect(store.has('md5:abc')).rejects.toMatchObject({ code: 'BAD_DIGEST' });
      expect(() => store.path('sha256:../../etc/passwd')).toThrow(/invalid digest/);
    });

    it('stream writes in many chunks, with expected digest and size', async () => {
      const chunks = Array.from({ length: 50 }, (_, i) => Buffer.alloc(10_000 + i, i));
      const all = Buffer.concat(chunks);
      const info = await store.putStream(
        (async function* () {
          for (const c of chunks) yield c;
        })(),
        { expected: digestOf(all), size: all.length },
      );
      expect(info).toEqual({ digest: digestOf(all), size: all.length });
      expect((await store.read(info.digest)).equals(all)).toBe(true);
      // writer() directly, with concurrent write() calls keeping their order
      const w = await store.writer();
      await Promise.all(chunks.map((c) => w.write(c)));
      expect(await w.commit()).toEqual(info);
      await w.abort(); // no-op after commit
      expect(await store.has(info.digest)).toBe(true);
    });

    it('a mismatched digest or size commits nothing and leaves no ingest file', async () => {
      const data = Buffer.from('actual bytes');
      const wrong = digestOf(Buffer.from('other bytes'));
      await expect(store.put(data, { expected: wrong })).rejects.toBeInstanceOf(DigestMismatchError);
      await expect(store.put(data, { size: data.length + 1 })).rejects.toMatchObject({ code: 'SIZE_MISMATCH' });
      expect(await store.has(digestOf(data))).toBe(false);
      expect(await store.has(wrong)).toBe(false);
      expect(await listAll(store)).toEqual([]);
      expect(await filesUnder(root)).toEqual([]);
    });

    it('concurrent writers of the same digest both succeed', async () => {
      const data = Buffer.alloc(3 << 20, 7);
      const d = digestOf(data);
      const w1 = await store.writer({ expected: d });
      const w2 = await store.writer({ expected: d });
      const half = data.length / 2;
      await w1.write(data.subarray(0, half));
      await w2.write(data.subarray(0, half));
      await Promise.all([w1.write(data.subarray(half)), w2.write(data.subarray(half))]);
      const [a, b] = await Promise.all([w1.commit(), w2.commit()]);
      expect(a).toEqual({ digest: d, size: data.length });
      expect(b).toEqual(a);
      // and a third commit of an existing digest is success too
      expect(await store.put(data)).toEqual(a);
      expect((await store.read(d)).equals(data)).toBe(true);
      expect(await listAll(store)).toEqual([d]);
    });

    it('abort leaves nothing, and the writer refuses further use', async () => {
      const w = await store.writer();
      await w.write(Buffer.from('partial'));
      await w.abort();
      await expect(w.write(Buffer.from('more'))).rejects.toThrow();
      await expect(w.commit()).rejects.toThrow();
      expect(await listAll(store)).toEqual([]);
      expect(await filesUnder(root)).toEqual([]);
    });

    it('cleanup keeps the ingest file of a writer that is still open', async () => {
      const w = await store.writer();
      await w.write(Buffer.from('in progress'));
      await store.cleanup();
      const info = await w.commit();
      expect((await store.read(info.digest)).toString()).toBe('in progress');
    });

    it('a process killed mid-write leaves no blob; cleanup removes its ingest file only once it is dead', async () => {
      const bytes = 1 << 20;
      const child = await h.spawnPartialWriter(root, bytes);
      // while the writer lives, cleanup must leave its ingest file alone
      await store.cleanup();
      expect(await filesUnder(root)).toHaveLength(1);
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      expect(await exited).toBe(null);
      expect(await listAll(store)).toEqual([]);
      const leftovers = await filesUnder(root);
      expect(leftovers).toHaveLength(1);
      expect(leftovers[0]).toContain(`${child.pid}-`);
      await store.cleanup();
      expect(await filesUnder(root)).toEqual([]);
      expect(await listAll(store)).toEqual([]);
    });
  });
}
