/**
 * The one blob fetcher (src/content/fetch.ts): a blob the store lacks is fetched by digest from the origins
 * its locators name, in order, verified (an origin with wrong bytes is refused and the next one tried);
 * one fetch per digest at a time; `fetchAgain` replaces a corrupt copy with one warning and says false when
 * no origin can give the blob (leaving the store as it was when no origin knows it).
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BlobFetcher, type BlobOrigin } from '../../../src/content/fetch.js';
import { LocalContentStore } from '../../../src/content/store.js';
import { DigestMismatchError } from '../../../src/errors.js';
import type { ProgressEvent } from '../../../src/progress/types.js';

const bytes = Buffer.from('the layer bytes\n'.repeat(100));
const digest = 'sha256:' + createHash('sha256').update(bytes).digest('hex');
const desc = { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest, size: bytes.length };

let dir: string;
let content: LocalContentStore;
let events: ProgressEvent[];
const progress = { emit: (e: ProgressEvent) => events.push(e), close: () => {} };
const warnings = () => events.filter((e) => e.type === 'warning').map((e) => (e as { message: string }).message);

/** An origin that streams `data` into the store (as a cache directory does), counting its fetches. */
function origin(label: string, data: Buffer): BlobOrigin & { calls: number } {
  const o = {
    label,
    calls: 0,
    async fetch(d: { digest: string; size: number }, store: LocalContentStore) {
      o.calls++;
      await new Promise((r) => setTimeout(r, 20)); // a download takes a while: concurrent callers overlap
      await store.putStream([data], { expected: d.digest, size: d.size });
    },
  };
  return o;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tsb-fetch-'));
  content = new LocalContentStore(join(dir, 'content'));
  events = [];
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('BlobFetcher', () => {
  it('ensure: fetches an absent blob from the first origin that gives the right bytes; a present one asks no locator', async () => {
    const bad = origin('evil', Buffer.from('other bytes'));
    const good = origin('cache source', bytes);
    let asked = 0;
    const f = new BlobFetcher({ content, progress })
      .add((d) => (asked++, d === digest ? [bad] : []))
      .add((d) => (d === digest ? [good] : []));
    await f.ensure(desc);
    expect(await content.read(digest)).toEqual(bytes);
    expect([bad.calls, good.calls]).toEqual([1, 1]);
    expect(warnings()).toEqual([]); // a lazy blob arriving is not news
    await f.ensure(desc);
    expect(asked).toBe(1);
  });

  it('ensure: concurrent callers share one fetch', async () => {
    const o = origin('one', bytes);
    const f = new BlobFetcher({ content }).add(() => [o]);
    await Promise.all([f.ensure(desc), f.ensure(desc), f.ensure(desc)]);
    expect(o.calls).toBe(1);
    expect(await content.has(digest)).toBe(true);
  });

  it('ensure: no origin knows the digest → nothing happens; every origin fails → the last error, nothing stored', async () => {
    await new BlobFetcher({ content }).add(() => []).ensure(desc);
    expect(await content.has(digest)).toBe(false);
    const f = new BlobFetcher({ content }).add(() => [origin('a', Buffer.from('x')), origin('b', Buffer.alloc(bytes.length))]);
    await expect(f.ensure(desc)).rejects.toBeInstanceOf(DigestMismatchError);
    expect(await content.has(digest)).toBe(false);
  });

  it('fetchAgain: a corrupt copy is replaced (one warning naming the origin); a missing one fetched', async () => {
    const f = new BlobFetcher({ content, progress }).add(() => [origin('127.0.0.1:5000/base', bytes)]);
    await content.put(bytes);
    await writeFile(content.path(digest), Buffer.alloc(bytes.length, 0x41));
    expect(await f.fetchAgain(desc)).toBe(true);
    expect(await readFile(content.path(digest))).toEqual(bytes);
    await content.delete(digest);
    expect(await f.fetchAgain(desc)).toBe(true);
    expect(await content.read(digest)).toEqual(bytes);
    expect(warnings()).toEqual([
      `blob ${digest.slice(7, 19)} was corrupt in the local store: fetched again from 127.0.0.1:5000/base`,
      `blob ${digest.slice(7, 19)} was missing in the local store: fetched again from 127.0.0.1:5000/base`,
    ]);
  });

  it('fetchAgain: false when no origin knows the blob (the copy is left alone) or every origin fails', async () => {
    await content.put(bytes);
    expect(await new BlobFetcher({ content }).add(() => []).fetchAgain(desc)).toBe(false);
    expect(await content.has(digest)).toBe(true);
    expect(await new BlobFetcher({ content }).add(() => [origin('a', Buffer.from('wrong'))]).fetchAgain(desc)).toBe(false);
    expect(await content.has(digest)).toBe(false);
  });
});
