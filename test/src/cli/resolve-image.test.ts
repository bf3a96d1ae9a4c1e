/**
 * A base image pulled by tag is checked with its registry every build (src/cli/resolve-image.ts): first with
 * one bare HEAD at the address the registry answered on last time, without loading the registry client;
 * the client only when the bare HEAD cannot tell. Real docker-registry behind a counting proxy.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveBaseImage, type BaseImageDeps } from '../../../src/cli/resolve-image.js';
import { headTag } from '../../../src/cli/tag-check.js';
import { makeRegistryClient } from '../../../src/cli/registry-client.js';
import { LocalContentStore } from '../../../src/content/store.js';
import { LocalImageStore } from '../../../src/imagestore/store.js';
import { PulledRecords } from '../../../src/registry/pulled.js';
import { RegistryClient } from '../../../src/registry/index.js';
import type { ProgressEvent } from '../../../src/progress/types.js';
import { CountingProxy, PASSWORD, TestRegistry, USER } from '../../registry/harness.js';
import { busyboxImage } from '../../registry/images.js';

let open: TestRegistry;
let token: TestRegistry;
let openProxy: CountingProxy;
let tokenProxy: CountingProxy;
let dir: string;
let n = 0;

beforeAll(async () => {
  open = await TestRegistry.start('open');
  token = await TestRegistry.start('token');
  openProxy = await new CountingProxy(open.port).start();
  tokenProxy = await new CountingProxy(token.port).start();
  dir = mkdtempSync(join(tmpdir(), 'tsb-resolve-'));
}, 120_000);

afterAll(async () => {
  await openProxy?.stop();
  await tokenProxy?.stop();
  await open?.stop();
  await token?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Push a new image (unique content) to `ref`; its manifest digest. */
async function pushBase(ref: string, auth = false): Promise<string> {
  const fixtures = new LocalContentStore(join(dir, 'fixtures'));
  const img = await busyboxImage(fixtures, { unique: `resolve-${++n}` });
  const credentials = async () => (auth ? { username: USER, password: PASSWORD } : undefined);
  await new RegistryClient({ credentials }).push([ref], img.manifest, { content: fixtures });
  return img.manifest.digest;
}

/** A fresh store; `resolve` counts how often the registry client was asked for. */
function store() {
  const root = join(dir, `store-${++n}`);
  const events: ProgressEvent[] = [];
  let clients = 0;
  const deps: BaseImageDeps = {
    content: new LocalContentStore(join(root, 'content')),
    images: new LocalImageStore(join(root, 'images')),
    client: async () => {
      clients++;
      return makeRegistryClient(root);
    },
    pulled: new PulledRecords(join(root, 'registry', 'pulled')),
    platform: { os: 'linux', architecture: 'amd64' },
    progress: { emit: (e) => events.push(e) },
    pull: false,
  };
  return { deps, events, clients: () => clients, resolve: (ref: string) => resolveBaseImage(ref, deps) };
}

const line = (p: CountingProxy) => p.requests.map((r) => `${r.method} ${r.path}${r.authorized ? ' (authorized)' : ''}`);

describe('resolveBaseImage: the tag check', () => {
  it('an unchanged tag: one bare HEAD, no registry client; the check is what the rebuild memo repeats', async () => {
    const ref = `${openProxy.domain}/resolve/base:v1`;
    const digest = await pushBase(ref);
    const s = store();
    const pulled = await s.resolve(ref);
    expect(pulled.digest).toBe(digest);
    expect(s.clients()).toBe(1);
    expect((await s.deps.pulled.get(pulled.ref))?.base).toBe(`http://${openProxy.domain}`);

    openProxy.reset();
    const again = await s.resolve(ref);
    expect(s.clients()).toBe(1); // not loaded
    expect(line(openProxy)).toEqual(['HEAD /v2/resolve/base/manifests/v1']);
    expect(again.digest).toBe(digest);
    expect(again.unchecked).toBeUndefined();
    expect(again.check).toEqual({ name: pulled.ref, domain: openProxy.domain, path: 'resolve/base', tag: 'v1', digest, base: `http://${openProxy.domain}`, insecure: false });
  }, 60_000);

  it('a moved tag is seen by the bare HEAD and pulled through the client', async () => {
    const ref = `${openProxy.domain}/resolve/moved:v1`;
    await pushBase(ref);
    const s = store();
    await s.resolve(ref);
    const moved = await pushBase(ref);
    const after = await s.resolve(ref);
    expect(after.digest).toBe(moved);
    expect(s.events.some((e) => e.type === 'vertex.started' && /pulling/.test(e.name))).toBe(true);
    expect((await s.deps.pulled.get(after.ref))?.digest).toBe(moved);
  }, 60_000);

  it('a tag deleted from its registry fails the build, as BuildKit does, instead of using the stored copy', async () => {
    const ref = `${openProxy.domain}/resolve/gone:v1`;
    const digest = await pushBase(ref);
    const s = store();
    await s.resolve(ref);
    // docker-registry deletes a manifest by digest (and with it the tag), not a tag by name
    const res = await fetch(`http://${open.domain}/v2/resolve/gone/manifests/${digest}`, { method: 'DELETE' });
    expect(res.status).toBe(202);
    await expect(s.resolve(ref)).rejects.toThrow(`${openProxy.domain}/resolve/gone:v1: manifest not found in the registry (the tag is gone since the image was pulled; the copy in the local store is not used)`);
    expect(s.events.filter((e) => e.type === 'warning')).toEqual([]);
  }, 60_000);

  it('a registry that refuses access (4xx) fails the check, as the pull does; only one that cannot answer leaves the stored copy in use', async () => {
    const ref = `${tokenProxy.domain}/private/resolve:v1`;
    await pushBase(ref, true);
    const s = store();
    const withCredentials = async () => new RegistryClient({ credentials: async () => ({ username: USER, password: PASSWORD }) });
    await resolveBaseImage(ref, { ...s.deps, client: withCredentials });
    // the credentials are gone: the registry answers 401 to the check
    const anonymous = async () => new RegistryClient({ credentials: async () => undefined });
    await expect(resolveBaseImage(ref, { ...s.deps, client: anonymous })).rejects.toMatchObject({ status: 401 });
    expect(s.events.filter((e) => e.type === 'warning')).toEqual([]);
  }, 60_000);

  it('a registry that wants a token: the bare HEAD gets its 401 once, then the client checks the tag from the next build on', async () => {
    const ref = `${tokenProxy.domain}/public/resolve:v1`;
    const digest = await pushBase(ref, true);
    const s = store();
    await s.resolve(ref);
    tokenProxy.reset();
    const second = await s.resolve(ref);
    expect(second.digest).toBe(digest);
    expect(second.check?.digest).toBe(digest);
    expect(line(tokenProxy)[0]).toBe('HEAD /v2/public/resolve/manifests/v1');
    expect((await s.deps.pulled.get(second.ref))?.bare).toBe(false);
    tokenProxy.reset();
    const clients = s.clients();
    const third = await s.resolve(ref);
    expect(third.digest).toBe(digest);
    expect(s.clients()).toBe(clients + 1);
    // No unauthorized HEAD first: every manifest request now comes from the client (with its token).
    expect(line(tokenProxy).filter((l) => l.includes('/manifests/'))).toEqual(['HEAD /v2/public/resolve/manifests/v1 (authorized)']);
    // The rebuild memo's check carries it too: the replay asks the client without a bare HEAD first.
    expect(third.check?.bare).toBe(false);
    tokenProxy.reset();
    expect(await headTag(third.check!)).toMatchObject({ state: 'unknown', client: true });
    expect(tokenProxy.requests).toEqual([]);
  }, 60_000);

  it('a registry that no longer answers where it did: the client is asked, and the record learns the address again', async () => {
    const ref = `${openProxy.domain}/resolve/gone:v1`;
    const digest = await pushBase(ref);
    const s = store();
    const first = await s.resolve(ref);
    // The record points at a port nothing listens on: the bare HEAD is refused; the client (proxy still up) answers.
    await s.deps.pulled.put(first.ref, digest, { base: 'http://127.0.0.1:9' });
    const again = await s.resolve(ref);
    expect(again.digest).toBe(digest);
    expect(again.unchecked).toBeUndefined();
    expect(s.clients()).toBe(2);
    // ... and the record learns the address again.
    expect((await s.deps.pulled.get(first.ref))?.base).toBe(`http://${openProxy.domain}`);
  }, 60_000);
});
