import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalContentStore } from '../../../src/content/store.js';
import { contentStoreConformance } from './conformance.js';
import { transpileForChild } from './transpile.js';

let jsDir: string;
let childScript: string;

beforeAll(async () => {
  jsDir = await mkdtemp(join(tmpdir(), 'tsb-content-js-'));
  const storeJs = await transpileForChild('src/content/store.ts', jsDir);
  childScript = join(jsDir, 'partial-writer.mjs');
  await writeFile(
    childScript,
    `import { LocalContentStore } from ${JSON.stringify(storeJs)};
const [root, bytes] = process.argv.slice(2);
const store = new LocalContentStore(root);
const w = await store.writer();
await w.write(Buffer.alloc(Number(bytes), 0x61));
process.stdout.write('ready\\n');
setInterval(() => {}, 1000);
`,
  );
});

afterAll(async () => {
  await rm(jsDir, { recursive: true, force: true });
});

contentStoreConformance({
  name: 'LocalContentStore',
  create: (root) => new LocalContentStore(root),
  spawnPartialWriter: (root, bytes) =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [childScript, root, String(bytes)], { stdio: ['ignore', 'pipe', 'inherit'] });
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`partial writer exited early with ${code}`)));
      child.stdout!.on('data', (d: Buffer) => {
        if (d.toString().includes('ready')) resolve(child);
      });
    }),
});

describe('hashing large blobs on a worker thread', () => {
  it('gives the same digest as inline hashing, catches a mismatch, and lets the process exit', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { createHash, randomBytes } = await import('node:crypto');
    const { LocalContentStore } = await import('../../../src/content/store.js');
    const { DigestMismatchError } = await import('../../../src/errors.js');
    const dir = mkdtempSync(join(tmpdir(), 'tsbuild-hashworker-'));
    try {
      const store = new LocalContentStore(join(dir, 'content'));
      const data = randomBytes(9 << 20); // over the worker threshold
      const digest = 'sha256:' + createHash('sha256').update(data).digest('hex');
      const w = await store.writer({ expected: digest, size: data.length });
      for (let off = 0; off < data.length; off += 50_000) await w.write(data.subarray(off, off + 50_000)); // small network-like chunks
      expect(await w.commit()).toEqual({ digest, size: data.length });
      expect(createHash('sha256').update(await store.read(digest)).digest('hex')).toBe(digest.slice(7));
      const bad = await store.writer({ expected: digest, size: data.length });
      const other = Buffer.from(data);
      other[12345] ^= 1;
      await bad.write(other); // one large chunk: the direct path
      await expect(bad.commit()).rejects.toBeInstanceOf(DigestMismatchError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('an untrusted stream longer than its descriptor', () => {
  it('stops reading as soon as it passes the expected size (a source that never ends cannot hang a build)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tsbuild-endless-'));
    try {
      const store = new LocalContentStore(dir);
      let read = 0;
      async function* endless(): AsyncGenerator<Uint8Array> {
        const chunk = new Uint8Array(64 * 1024);
        for (;;) {
          read += chunk.length;
          yield chunk;
        }
      }
      const expected = `sha256:${'0'.repeat(64)}`;
      await expect(store.putStream(endless(), { expected, size: 100_000 })).rejects.toThrow(/more than the expected 100000 bytes/);
      expect(read).toBeLessThanOrEqual(100_000 + 64 * 1024);
      expect(await store.has(expected)).toBe(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 20_000);
});

describe('a direct write (ContentWriter.direct: a producer writes the ingest file itself)', () => {
  it("commits the producer's digest when the file holds the size it reports; a short file, a missing report or a write() afterwards never commits", async () => {
    const { mkdtempSync, rmSync, writeSync } = await import('node:fs');
    const { createHash } = await import('node:crypto');
    const dir = mkdtempSync(join(tmpdir(), 'tsbuild-direct-'));
    try {
      const store = new LocalContentStore(join(dir, 'content'));
      const data = Buffer.from('layer bytes written by another thread');
      const hex = createHash('sha256').update(data).digest('hex');
      const w = await store.writer();
      const d = w.direct!()!;
      expect(w.direct!()).toBeUndefined(); // once
      await expect(w.write(Buffer.from('x'))).rejects.toThrow('written directly');
      writeSync(d.fd, data);
      d.written(data.length, hex);
      expect(await w.commit()).toEqual({ digest: `sha256:${hex}`, size: data.length });
      expect((await store.read(`sha256:${hex}`)).equals(data)).toBe(true);

      const short = await store.writer();
      const s = short.direct!()!;
      writeSync(s.fd, data.subarray(1));
      s.written(data.length, 'f'.repeat(64));
      await expect(short.commit()).rejects.toThrow(/wrote \d+ bytes, the file holds/);
      expect(await store.has('sha256:' + 'f'.repeat(64))).toBe(false);

      const silent = await store.writer();
      writeSync(silent.direct!()!.fd, data);
      await expect(silent.commit()).rejects.toThrow('reported nothing');

      const written = await store.writer();
      await written.write(data);
      expect(written.direct!()).toBeUndefined(); // bytes went through write(): no direct write after them
      await written.abort();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
