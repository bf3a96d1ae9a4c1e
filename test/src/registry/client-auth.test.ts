/**
 * Auth flows against real docker-registry processes: htpasswd Basic over TLS (CA made at setup, given
 * through a certs.d dir), and distribution's token auth with our test token server (POST oauth2 form,
 * GET fallback, anonymous tokens, scope merging for mounts, token reuse). Secrets never show in errors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalContentStore } from '../../../src/content/store.js';
import { RegistryAuthError, RegistryClient, RegistryUnreachableError, BlobSources } from '../../../src/registry/index.js';
import { PASSWORD, TestRegistry, USER } from '../../registry/harness.js';
import { busyboxImage } from '../../registry/images.js';

let basic: TestRegistry;
let token: TestRegistry;
let dir: string;
let src: LocalContentStore;
const good = async () => ({ username: USER, password: PASSWORD });
const wrong = async () => ({ username: USER, password: 'not-the-password-xyz' });
const amd64 = { os: 'linux', architecture: 'amd64' };

beforeAll(async () => {
  [basic, token] = await Promise.all([TestRegistry.start('basic'), TestRegistry.start('token')]);
  dir = mkdtempSync(join(tmpdir(), 'tsbuild-regauth-'));
  src = new LocalContentStore(join(dir, 'src'));
}, 30_000);

afterAll(async () => {
  await basic?.stop();
  await token?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('htpasswd Basic auth over TLS', () => {
  it('pushes and pulls with credentials, trusting the CA from a certs.d dir', async () => {
    const img = await busyboxImage(src, { extra: 1, unique: 'basic' });
    const c = new RegistryClient({ credentials: good, certsDir: basic.certsDir });
    await c.push([`${basic.domain}/team/app:v1`], img.manifest, { content: src });
    const info = JSON.parse(execFileSync('skopeo', ['inspect', ...basic.skopeoFlags('src').map((f) => f.replace('--src-', '--')), `docker://${basic.domain}/team/app:v1`]).toString());
    expect(info.Digest).toBe(img.manifest.digest);
    const dst = new LocalContentStore(join(dir, 'basic-dst'));
    const got = await c.pull(`${basic.domain}/team/app:v1`, { content: dst, platform: amd64 });
    expect(got.target.digest).toBe(img.manifest.digest);
  });

  it('refuses a certificate from an unknown CA (TLS verified by default)', async () => {
    const c = new RegistryClient({ credentials: good, certsDir: join(dir, 'empty-certs'), retries: 0 });
    const err = await c.resolve(`${basic.domain}/team/app:v1`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryUnreachableError);
    expect((err as RegistryUnreachableError).hint).toContain('certs.d');
  });

  it('--insecure-registry: an unknown CA is accepted for that registry only', async () => {
    const c = new RegistryClient({ credentials: good, certsDir: join(dir, 'empty-certs'), insecure: [basic.domain] });
    expect((await c.resolve(`${basic.domain}/team/app:v1`))?.digest).toMatch(/^sha256:/);
  });

  it('a wrong password: an error naming the registry and the scope, without the password', async () => {
    const c = new RegistryClient({ credentials: wrong, certsDir: basic.certsDir });
    const err = await c.pull(`${basic.domain}/team/app:v1`, { content: new LocalContentStore(join(dir, 'x')), platform: amd64 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryAuthError);
    const msg = (err as Error).message;
    expect(msg).toContain(basic.domain);
    expect(msg).toContain('repository:team/app:pull');
    expect(JSON.stringify({ msg, hint: (err as RegistryAuthError).hint })).not.toContain('not-the-password-xyz');
  });

  it('no credentials: authentication required, with a login hint', async () => {
    const c = new RegistryClient({ credentials: async () => undefined, certsDir: basic.certsDir });
    const err = await c.resolve(`${basic.domain}/team/app:v1`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryAuthError);
    expect((err as RegistryAuthError).hint).toContain(`tsbuild login ${basic.domain}`);
  });
});

describe('token auth (distribution auth: token + our token server)', () => {
  it('push and pull with the POST oauth2 flow; one token per scope set, reused', async () => {
    const img = await busyboxImage(src, { extra: 2, unique: 'token' });
    token.tokenStats = { post: 0, get: 0, scopes: [] };
    const c = new RegistryClient({ credentials: good });
    await c.push([`${token.domain}/private/app:v1`], img.manifest, { content: src });
    expect(token.tokenStats.post).toBe(1); // every blob and the manifest used the same token
    expect(token.tokenStats.get).toBe(0);
    expect(token.tokenStats.scopes).toEqual(['repository:private/app:pull,push']);
    const dst = new LocalContentStore(join(dir, 'token-dst'));
    await c.pull(`${token.domain}/private/app:v1`, { content: dst, platform: amd64 });
    expect(token.tokenStats.post).toBe(2); // pull scope: a second token, reused for every blob
    expect(await dst.has(img.layers[2]!.desc.digest)).toBe(true);
  });

  it('falls back to GET with Basic auth when the token server does not take POST', async () => {
    token.tokenPostUnsupported = true;
    token.tokenStats = { post: 0, get: 0, scopes: [] };
    try {
      const c = new RegistryClient({ credentials: good });
      const r = await c.resolve(`${token.domain}/private/app:v1`);
      expect(r?.digest).toMatch(/^sha256:/);
      expect(token.tokenStats).toMatchObject({ post: 1, get: 1 });
    } finally {
      token.tokenPostUnsupported = false;
    }
  });

  it('anonymous tokens: public repositories pull without credentials, private ones are refused', async () => {
    const img = await busyboxImage(src, { extra: 1, unique: 'public' });
    await new RegistryClient({ credentials: good }).push([`${token.domain}/public/base:v1`], img.manifest, { content: src });
    const anon = new RegistryClient({ credentials: async () => undefined });
    const got = await anon.pull(`${token.domain}/public/base:v1`, { content: new LocalContentStore(join(dir, 'anon')), platform: amd64 });
    expect(got.target.digest).toBe(img.manifest.digest);
    const err = await anon.resolve(`${token.domain}/private/app:v1`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryAuthError);
    expect((err as Error).message).toContain('repository:private/app:pull');
  });

  it('a wrong password: the token server refuses; the error names registry and scope, not the password', async () => {
    const c = new RegistryClient({ credentials: wrong });
    const err = await c.resolve(`${token.domain}/private/app:v1`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryAuthError);
    const msg = (err as Error).message;
    expect(msg).toContain(token.domain);
    expect(msg).toContain('repository:private/app:pull');
    expect(msg).not.toContain('not-the-password-xyz');
  });

  it('a cross-repository mount asks one token for both scopes (merged) and uploads nothing', async () => {
    const img = await busyboxImage(src, { extra: 1, unique: 'token-mount' });
    const sources = new BlobSources(join(dir, 'token-sources'));
    const c = new RegistryClient({ credentials: good, sources });
    await c.push([`${token.domain}/private/one:v1`], img.manifest, { content: src });
    token.tokenStats = { post: 0, get: 0, scopes: [] };
    const stats = await new RegistryClient({ credentials: good, sources }).push([`${token.domain}/private/two:v1`], img.manifest, { content: src });
    expect(stats).toEqual({ uploaded: 0, skipped: 0, mounted: 3 });
    expect(token.tokenStats.post).toBe(1);
    expect(token.tokenStats.scopes.sort()).toEqual(['repository:private/one:pull', 'repository:private/two:pull,push']);
  });
});
