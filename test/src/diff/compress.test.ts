/**
 * The gzip compressor is chosen by the input's size alone (compress.ts SMALL_GZIP_BYTES): up to it zlib in
 * this process, above it pigz when installed. Checked against zlib and the pigz CLI directly, with the
 * input fed in different chunkings (the bytes must not depend on how the input arrives).
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { gzipSync, gunzipSync } from 'node:zlib';
import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import { randomBytes } from 'node:crypto';
import { compressStream, DEFAULT_GZIP_LEVEL, defaultGzipLevel, findTool, storedGzip, gzipEngine, gzipSmall, SMALL_GZIP_BYTES } from '../../../src/diff/compress.js';

/** Compressible, varied, deterministic bytes. */
function data(n: number): Buffer {
  const b = Buffer.alloc(n);
  let x = 12345;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = (x >>> 24) % 16 + 97;
  }
  return b;
}

async function gz(input: Buffer, chunk: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let off = 0; off < input.length; off += chunk) parts.push(input.subarray(off, off + chunk));
  const out: Buffer[] = [];
  const s = Readable.from(parts).pipe(compressStream('gzip'));
  for await (const c of s) out.push(c as Buffer);
  return Buffer.concat(out);
}

const zlib = (b: Buffer) => gzipSync(b, { level: DEFAULT_GZIP_LEVEL });
/** Compared by digest: vitest's deep equality on MiB-sized buffers takes minutes. */
const id = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('gzip: the compressor is chosen by the input size', () => {
  it('up to SMALL_GZIP_BYTES: zlib in this process, the same bytes however the input is split', async () => {
    for (const n of [0, 1000, SMALL_GZIP_BYTES]) {
      const input = data(n);
      const want = id(zlib(input));
      expect(id(await gz(input, 1 << 20))).toBe(want);
      expect(id(await gz(input, 65_537))).toBe(want);
      expect(id(await gzipSmall(input))).toBe(want);
    }
  });

  it('above SMALL_GZIP_BYTES: pigz -n when installed (the CLI gives the same bytes), whole and in any chunking', async () => {
    const input = data(SMALL_GZIP_BYTES + 1);
    const out = await gz(input, 1 << 20);
    expect(gunzipSync(out).equals(input)).toBe(true);
    expect(id(await gz(input, 300_001))).toBe(id(out));
    if (gzipEngine() === 'pigz') {
      const cli = execFileSync(findTool('pigz')!, ['-c', '-n', `-${DEFAULT_GZIP_LEVEL}`], { input, maxBuffer: 1 << 26 });
      expect(id(out)).toBe(id(cli));
      expect(id(out)).not.toBe(id(zlib(input))); // so the rule above is visible in the bytes
    } else {
      expect(id(out)).toBe(id(zlib(input)));
    }
  });
});

describe('gzip: the default level of a small input follows its bytes', () => {
  /** A tar-like input: one 512-byte header of text and zeros, then `body`, then zero padding. */
  const tarLike = (body: Buffer) => Buffer.concat([Buffer.from('out0'.padEnd(512, '\0')), body, Buffer.alloc(1024)]);

  it('compressed or random bytes are stored (level 0), the same bytes through every path', async () => {
    const input = tarLike(randomBytes(1 << 20));
    expect(defaultGzipLevel(input)).toBe(0);
    const want = id(storedGzip(input));
    expect(id(await gzipSmall(input))).toBe(want);
    expect(id(await gzipSmall(input, 0))).toBe(want);
    expect(id(await gz(input, 65_537))).toBe(want);
    expect(gunzipSync(await gzipSmall(input)).equals(input)).toBe(true);
    // an asked-for level is that level
    expect(id(await gzipSmall(input, 1))).toBe(id(gzipSync(input, { level: 1 })));
  });

  it('storedGzip is a gzip member of stored blocks that gunzip and the gzip CLI read back, for any size', () => {
    for (const n of [0, 1, 65_534, 65_535, 65_536, 3 * 65_535 + 7]) {
      const input = randomBytes(n);
      const out = storedGzip(input);
      expect(out.byteLength).toBe(10 + Math.max(1, Math.ceil(n / 65_535)) * 5 + n + 8);
      expect(gunzipSync(out).equals(input)).toBe(true);
      expect(execFileSync('gzip', ['-t'], { input: out }).byteLength).toBe(0); // CRC and size checked by gzip(1)
    }
  });

  it('compressible bytes, and random bytes mixed with them, get DEFAULT_GZIP_LEVEL', async () => {
    expect(defaultGzipLevel(data(1 << 20))).toBe(DEFAULT_GZIP_LEVEL);
    const mixed = Buffer.concat([randomBytes(1 << 20), data(256 << 10)]);
    expect(defaultGzipLevel(mixed)).toBe(DEFAULT_GZIP_LEVEL);
    expect(id(await gzipSmall(mixed))).toBe(id(zlib(mixed)));
    // tiny inputs are never judged
    expect(defaultGzipLevel(randomBytes(100))).toBe(DEFAULT_GZIP_LEVEL);
  });

  it('an input above SMALL_GZIP_BYTES streams at DEFAULT_GZIP_LEVEL even when random', async () => {
    const input = randomBytes(SMALL_GZIP_BYTES + 1);
    const out = await gz(input, 1 << 20);
    expect(gunzipSync(out).equals(input)).toBe(true);
    if (gzipEngine() === 'pigz') expect(id(out)).toBe(id(execFileSync(findTool('pigz')!, ['-c', '-n', `-${DEFAULT_GZIP_LEVEL}`], { input, maxBuffer: 1 << 26 })));
    else expect(id(out)).toBe(id(zlib(input)));
  });
});
