/**
 * Digest pins of manifests against a real docker-registry: sha256 and sha512 pins are verified (a
 * registry answering a pin with other bytes is a DigestMismatch, nothing stored), any other algorithm or a
 * malformed digest is refused before any request.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalContentStore } from '../../../src/content/store.js';
import { DigestMismatchError, TsbuildError } from '../../../src/errors.js';
import { RegistryClient } from '../../../src/registry/index.js';
import { CountingProxy, TestRegistry } from '../../registry/harness.js';
import { busyboxImage } from '../../registry/images.js';

let reg: TestRegistry;
let proxy: CountingProxy;
let dir: string;
let src: LocalContentStore;
let manifestBytes: Buffer;
const platform = { os: 'linux', architecture: 'amd64' };

beforeAll(async () => {
  reg = await TestRegistry.start('open');
  proxy = await new CountingProxy(reg.port).start();
  dir = mkdtempSync(join(tmpdir(), 'tsbuild-pins-'));
  src = new LocalContentStore(join(dir, 'src'));
  const img = await busyboxImage(src, { extra: 0, unique: 'pins' });
  await client().push([`${reg.domain}/pinned:v1`], img.manifest, { content: src });
  manifestBytes = await src.read(img.manifest.digest);
  // docker-registry indexes manifests by sha256 only: the proxy answers a sha512 reference with the tag.
  proxy.rewrite = (p) => p.replace(/\/manifests\/sha512:[0-9a-f]+$/, '/manifests/v1');
}, 30_000);

afterAll(async () => {
  await proxy?.stop();
  await reg?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function client() {
  return new RegistryClient({ credentials: async () => undefined, retries: 1, backoffMs: 10 });
}

const sha512 = (b: Buffer) => 'sha512:' + createHash('sha512').update(b).digest('hex');

describe('manifest digest pins', () => {
  it('a sha512 pin that matches the manifest pulls the image', async () => {
    const dst = new LocalContentStore(join(dir, 'ok512'));
    const got = await client().pull(`${proxy.domain}/pinned@${sha512(manifestBytes)}`, { content: dst, platform });
    expect(got.manifest.layers.length).toBe(1);
  });

  it('a sha512 pin the registry answers with other bytes is a digest mismatch and nothing is stored', async () => {
    const dst = new LocalContentStore(join(dir, 'bad512'));
    const wrong = sha512(Buffer.from('another manifest'));
    const err = await client().pull(`${proxy.domain}/pinned@${wrong}`, { content: dst, platform }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DigestMismatchError);
    expect((err as Error).message).toContain(wrong);
    const blobs = [];
    for await (const b of dst.list()) blobs.push(b);
    expect(blobs).toEqual([]);
  });

  it('a sha256 pin the registry answers with other bytes is a digest mismatch', async () => {
    proxy.rewrite = (p) => p.replace(/\/manifests\/sha256:[0-9a-f]+$/, '/manifests/v1');
    try {
      const wrong = 'sha256:' + createHash('sha256').update('x').digest('hex');
      const err = await client().pull(`${proxy.domain}/pinned@${wrong}`, { content: new LocalContentStore(join(dir, 'bad256')), platform }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DigestMismatchError);
    } finally {
      proxy.rewrite = (p) => p.replace(/\/manifests\/sha512:[0-9a-f]+$/, '/manifests/v1');
    }
  });

  it.each([
    ['md5:' + 'a'.repeat(32), 'unsupported digest algorithm "md5"'],
    ['blake3:' + 'a'.repeat(64), 'unsupported digest algorithm "blake3"'],
    ['sha384:' + 'a'.repeat(96), 'unsupported digest algorithm "sha384"'],
    ['sha256:' + 'a'.repeat(63), 'a sha256 digest has 64 hex digits, not 63'],
    ['sha512:' + 'a'.repeat(64), 'a sha512 digest has 128 hex digits, not 64'],
    ['sha256:' + 'A'.repeat(64), 'lower-case hex'],
  ])('%s is refused before any request', async (digest, message) => {
    proxy.reset();
    const err = await (async () => client().pull(`${proxy.domain}/pinned@${digest}`, { content: new LocalContentStore(join(dir, "never")), platform }))().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TsbuildError);
    expect((err as TsbuildError).code).toBe('BAD_REFERENCE');
    expect((err as Error).message).toContain(message);
    expect(proxy.requests).toEqual([]);
  });
});
