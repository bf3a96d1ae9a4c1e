/** The one digest parser/verifier, and the content store's use of it (sha256 and sha512 verified; others refused). */
import { afterAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { digestProblem, layoutBlobPath, parseDigest, verifyDigest } from '../../../src/content/digest.js';
import { LocalContentStore } from '../../../src/content/store.js';
import { DigestMismatchError, TsbuildError } from '../../../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'tsbuild-digest-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const data = Buffer.from('hello digest\n');
const d256 = 'sha256:' + createHash('sha256').update(data).digest('hex');
const d512 = 'sha512:' + createHash('sha512').update(data).digest('hex');

describe('parseDigest / verifyDigest', () => {
  it('accepts sha256 and sha512 and verifies bytes in the digest\'s own algorithm', () => {
    expect(parseDigest(d256)).toEqual({ algorithm: 'sha256', hex: d256.slice(7) });
    expect(parseDigest(d512).algorithm).toBe('sha512');
    verifyDigest(data, d256);
    verifyDigest(data, d512);
    expect(() => verifyDigest(Buffer.from('other'), d512)).toThrow(DigestMismatchError);
    expect(layoutBlobPath(d512)).toBe(`blobs/sha512/${d512.slice(7)}`);
  });

  it.each([
    ['md5:' + 'a'.repeat(32), /unsupported digest algorithm "md5"/],
    ['blake3:' + 'a'.repeat(64), /unsupported digest algorithm "blake3"/],
    ['sha384:' + 'a'.repeat(96), /unsupported digest algorithm "sha384"/],
    ['constructor:' + 'a'.repeat(64), /unsupported digest algorithm "constructor"/],
    ['sha256:' + 'a'.repeat(65), /64 hex digits, not 65/],
    ['sha512:' + 'a'.repeat(64), /128 hex digits, not 64/],
    ['sha256:' + 'g'.repeat(64), /lower-case hex/],
    ['sha256', /expected ALGORITHM:HEX/],
    [':abc', /expected ALGORITHM:HEX/],
  ])('refuses %s', (digest, why) => {
    expect(digestProblem(digest)).toMatch(why);
    const err = (() => {
      try {
        parseDigest(digest);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(TsbuildError);
    expect((err as TsbuildError).code).toBe('BAD_DIGEST');
    expect(() => verifyDigest(data, digest)).toThrow(TsbuildError);
  });
});

describe('content store', () => {
  it('stores a blob expected by sha512 under blobs/sha512 after verifying it, and lists it', async () => {
    const store = new LocalContentStore(join(dir, 'cs'));
    const info = await store.put(data, { expected: d512 });
    expect(info.digest).toBe(d512);
    expect(existsSync(join(store.root, 'blobs/sha512', d512.slice(7)))).toBe(true);
    expect((await store.read(d512)).equals(data)).toBe(true);
    const listed = [];
    for await (const b of store.list()) listed.push(b.digest);
    expect(listed).toEqual([d512]);
  });

  it('a streamed write whose bytes do not match a sha512 expectation commits nothing', async () => {
    const store = new LocalContentStore(join(dir, 'cs-bad'));
    const wrong = 'sha512:' + createHash('sha512').update('x').digest('hex');
    await expect(store.putStream([data], { expected: wrong })).rejects.toBeInstanceOf(DigestMismatchError);
    expect(await store.has(wrong)).toBe(false);
    expect(readdirSync(join(store.root, 'ingest'))).toEqual([]);
  });

  it('refuses an expectation it cannot verify (md5) before writing anything', async () => {
    const store = new LocalContentStore(join(dir, 'cs-md5'));
    await expect(store.put(data, { expected: 'md5:' + 'a'.repeat(32) })).rejects.toThrow(/unsupported digest algorithm "md5"/);
    expect(existsSync(join(store.root, 'blobs'))).toBe(false);
  });
});
