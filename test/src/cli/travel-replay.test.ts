/**
 * The travelling rebuild memo (src/cli/travel-memo.ts, src/cli/travel-replay.ts) through a real registry
 * (Debian docker-registry behind the counting proxy): machine A builds, pushes and exports its cache; a fresh
 * machine B, the context checked out at another path, runs the CI job (`--cache-from` that cache, push): the
 * replay answers it without the CLI, running nothing and downloading no layer, and pushes the image A pushed;
 * the normal path on a third machine prints the same result. Anything that differs (a file, a flag, the
 * Dockerfile, another export, credentials) or any memo that does not check out (paths outside the context, an
 * image whose blobs no repository has, a config that is not its manifest's, escape sequences in step names)
 * leaves the job to the normal path, which builds the right image.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Sandbox, freshMachines, suiteSandbox } from '../../e2e/harness.js';
import { CountingProxy, TestRegistry } from '../../registry/harness.js';

const execFileP = promisify(execFile);
const a = suiteSandbox();
const stores = freshMachines(a);
const machine = () => stores.machine();
const checkout = (sb: Sandbox) => stores.checkout(sb, 'e2e/cache-travel', 'project');
let open: TestRegistry;
let proxy: CountingProxy;
const debug = { TSBUILD_MEMO_DEBUG: '1' };

beforeAll(async () => {
  open = await TestRegistry.start('open');
  proxy = await new CountingProxy(open.port).start();
}, 120_000);

afterAll(async () => {
  await proxy?.stop();
  await open?.stop();
});

async function build(sb: Sandbox, args: string[], extra: Record<string, string> = {}) {
  const out = await sb.tsbuild(['build', '--progress', 'plain', ...args], { env: { ...debug, ...extra } });
  return { ...out, text: out.stderr + out.stdout };
}

/** What the replay said (the first `travelling memo:` line; a normal build may add whether it kept one). */
const memoSaid = (text: string) => /travelling memo: (.*)/.exec(text)?.[1];
const written = (text: string) => /writing image (sha256:[0-9a-f]{64})/.exec(text)?.[1];
/** The names of the steps shown CACHED, sorted. */
const cachedSteps = (text: string) => {
  const names = new Map<string, string>();
  const out: string[] = [];
  for (const l of text.split('\n')) {
    const m = /^#(\d+) (.*)$/.exec(l);
    if (!m) continue;
    if (m[2] === 'CACHED') out.push(names.get(m[1]!)!);
    else if (!names.has(m[1]!)) names.set(m[1]!, m[2]!);
  }
  return out.sort();
};

async function skopeoDigest(ref: string): Promise<string> {
  return JSON.parse((await execFileP('skopeo', ['inspect', '--tls-verify=false', `docker://${ref}`])).stdout).Digest;
}

/** A manifest's digest as the registry names it (skopeo inspects images only, not the cache artifact). */
async function manifestDigest(repoTag: string): Promise<string> {
  const [repo, tag] = repoTag.split(':') as [string, string];
  const r = await fetch(`http://${open.domain}/v2/${repo}/manifests/${tag}`, { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
  return r.headers.get('docker-content-digest')!;
}

const sha256 = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');

/** Rewrite the memo a cache carries (as a registry attacker could): a new config blob and manifest under `to`. */
async function rewriteMemo(from: string, to: string, edit: (memo: Record<string, any>) => void): Promise<void> {
  const base = `http://${open.domain}`;
  const [repo, tag] = from.split(':') as [string, string];
  const accept = { accept: 'application/vnd.oci.image.manifest.v1+json' };
  const manifest = await (await fetch(`${base}/v2/${repo}/manifests/${tag}`, { headers: accept })).json() as Record<string, any>;
  const config = await (await fetch(`${base}/v2/${repo}/blobs/${manifest.config.digest}`)).json() as Record<string, any>;
  edit(config.memo);
  const bytes = Buffer.from(JSON.stringify(config));
  const [toRepo, toTag] = to.split(':') as [string, string];
  for (const l of manifest.layers) await fetch(`${base}/v2/${toRepo}/blobs/uploads/?mount=${l.digest}&from=${repo}`, { method: 'POST' });
  const start = await fetch(`${base}/v2/${toRepo}/blobs/uploads/`, { method: 'POST' });
  const loc = new URL(start.headers.get('location')!, base);
  loc.searchParams.set('digest', sha256(bytes));
  expect((await fetch(loc, { method: 'PUT', body: bytes, headers: { 'content-type': 'application/octet-stream' } })).status).toBe(201);
  manifest.config = { ...manifest.config, digest: sha256(bytes), size: bytes.length };
  const put = await fetch(`${base}/v2/${toRepo}/manifests/${toTag}`, { method: 'PUT', body: JSON.stringify(manifest), headers: { 'content-type': manifest.mediaType } });
  expect(put.status).toBe(201);
}

describe('the travelling rebuild memo', () => {
  let cacheRef = '';
  let imageA = '';

  beforeAll(async () => {
    cacheRef = `${proxy.domain}/cache/app:buildcache`;
    const ctx = checkout(a);
    // A checkout younger than a second is racy for the witness (src/context/witness.ts): no memo would be kept.
    await new Promise((r) => setTimeout(r, 1100));
    const out = await build(a, ['--cache-to', `type=registry,ref=${cacheRef},mode=max`, '-o', `type=registry,name=${proxy.domain}/app/img:a`, ctx]);
    expect(out.code, out.text).toBe(0);
    expect(out.text).toContain('travelling memo: kept');
    imageA = await skopeoDigest(`${open.domain}/app/img:a`);
    await rewriteMemo('cache/app:buildcache', 'cache/pristine:1', () => {}); // what the cases below rewrite
  }, 180_000);

  it('a fresh machine\'s CI job is answered by the replay: every step CACHED, nothing run or downloaded, the image A pushed; the normal path says the same', async () => {
    const b = await machine();
    proxy.reset();
    const out = await build(b, ['--cache-from', cacheRef, '-o', `type=registry,name=${proxy.domain}/other/img:b`, checkout(b)]);
    expect(out.code, out.text).toBe(0);
    expect(memoSaid(out.text)).toBe('replayed');
    expect(b.runcRuns()).toBe(0);
    expect(await skopeoDigest(`${open.domain}/other/img:b`)).toBe(imageA);
    expect(written(out.text)).toBe(imageA);
    // No blob downloaded (the cache config apart), nothing written to B's store; every blob of the image
    // mounted from where A pushed it, one mount each, no upload.
    expect(proxy.requests.filter((r) => r.method === 'GET' && r.path.includes('/blobs/') && !r.path.includes('/cache/app/'))).toEqual([]);
    const image = JSON.parse((await execFileP('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${open.domain}/other/img:b`])).stdout) as { config: { digest: string }; layers: { digest: string }[] };
    const posts = proxy.requests.filter((r) => r.method === 'POST');
    expect(posts.length).toBe(1 + image.layers.length);
    expect(posts.every((r) => r.path.includes('mount=') && r.path.includes('from=app%2Fimg'))).toBe(true);
    expect(existsSync(join(b.root, 'cache')) ? readdirSync(join(b.root, 'cache')) : []).toEqual([]);
    // The normal path on a third machine: the same steps, the same image, the same closing line.
    const c = await machine();
    const normal = await build(c, ['--cache-from', cacheRef, '-o', `type=registry,name=${proxy.domain}/other/img:c`, checkout(c)], { TSBUILD_NO_MEMO: '1' });
    expect(normal.code, normal.text).toBe(0);
    expect(cachedSteps(normal.text).length).toBeGreaterThanOrEqual(9);
    expect(cachedSteps(out.text)).toEqual(cachedSteps(normal.text));
    expect(await skopeoDigest(`${open.domain}/other/img:c`)).toBe(imageA);
    // The closing line names what was pushed, as the normal path's does (which names the build's default
    // image first: with a base kept uncompressed in the store, not the pushed manifest; the replay names that).
    const pushedPart = (t: string, tag: string) => /; (pushed .*)$/m.exec(t)![1]!.replace(`:${tag} `, ': ').replace(/\(\d+ uploaded, \d+ mounted, \d+ already there\)/, '');
    expect(pushedPart(out.text, 'b')).toBe(pushedPart(normal.text, 'c'));
  }, 180_000);

  it('anything that differs leaves the job to the normal path, which builds the right image', async () => {
    // A copy of A's cache: the cases that export write to it, not to the one the other tests read.
    const ref = `${proxy.domain}/cache/differs:1`;
    await rewriteMemo('cache/pristine:1', 'cache/differs:1', () => {});
    // [what, arrange, why the replay refused, the image changed (steps ran) or is A's (all CACHED on the normal path)]
    const cases: [string, (ctx: string) => string[], RegExp, boolean][] = [
      ['a context file', (ctx) => (writeFileSync(join(ctx, 'lib.txt'), 'changed\n'), []), /the context differs/, true],
      ['a file added beside the sources', (ctx) => (writeFileSync(join(ctx, 'new.txt'), 'new\n'), []), /the context differs/, false],
      ['a build arg', () => ['--build-arg', 'X=1'], /another command/, false],
      ['the Dockerfile', (ctx) => (writeFileSync(join(ctx, 'Dockerfile'), '# comment\n' + readFileSync(join(ctx, 'Dockerfile'), 'utf8')), []), /Dockerfile changed/, false],
      ['a .dockerignore', (ctx) => (writeFileSync(join(ctx, '.dockerignore'), 'nothing\n'), []), /\.dockerignore changed/, false],
      ['another cache ref to export to', () => ['--cache-to', `type=registry,ref=${proxy.domain}/cache/elsewhere:1,mode=max`], /another cache/, false],
      ['another cache export', () => ['--cache-to', `type=registry,ref=${ref},mode=min`], /another export/, false],
    ];
    for (const [i, [what, arrange, why, changed]] of cases.entries()) {
      const b = await machine();
      const ctx = checkout(b);
      const extra = arrange(ctx);
      const out = await build(b, ['--cache-from', ref, ...extra, '-o', `type=registry,name=${proxy.domain}/diff/img:${i}`, ctx]);
      expect(out.code, `${what}: ${out.text}`).toBe(0);
      expect(memoSaid(out.text), what).toMatch(why);
      expect(out.text, what).toMatch(/build finished/);
      expect(b.runcRuns() > 0, what).toBe(changed);
      const pushed = await skopeoDigest(`${open.domain}/diff/img:${i}`);
      if (changed) expect(pushed, what).not.toBe(imageA);
      else expect(pushed, what).toBe(imageA);
    }
  }, 600_000);

  it('--cache-to the same cache with the same export: replayed, the cache left as it is; credentials for the registry: the normal path', async () => {
    const before = await manifestDigest('cache/app:buildcache');
    const b = await machine();
    // A proxy build arg (it may hold credentials) never enters a key: the job is still answered.
    const proxyArg = 'HTTPS_PROXY=http://u:pw-secret@127.0.0.1:9/';
    const out = await build(b, ['--build-arg', proxyArg, '--cache-from', cacheRef, '--cache-to', `type=registry,ref=${cacheRef},mode=max`, '-o', `type=registry,name=${proxy.domain}/same/img:1`, checkout(b)]);
    expect(out.code, out.text).toBe(0);
    expect(memoSaid(out.text)).toBe('replayed');
    expect(out.text).not.toContain('pw-secret');
    expect(out.text).toMatch(/cache .*cache\/app:buildcache already holds this build/);
    expect(await manifestDigest('cache/app:buildcache')).toBe(before);
    const c = await machine();
    const docker = join(c.dir, 'docker');
    mkdirSync(docker, { recursive: true });
    writeFileSync(join(docker, 'config.json'), JSON.stringify({ auths: { [proxy.domain]: { auth: Buffer.from('u:p').toString('base64') } } }));
    const creds = await build(c, ['--cache-from', cacheRef, '-o', `type=registry,name=${proxy.domain}/same/img:2`, checkout(c)], { DOCKER_CONFIG: docker });
    expect(creds.code, creds.text).toBe(0);
    expect(memoSaid(creds.text)).toMatch(/credentials are configured/);
    expect(creds.text).not.toContain('u:p');
  }, 300_000);

  it('a memo that does not check out (escaping paths, blobs nowhere, a foreign config) is refused; step names are printed without control characters', async () => {
    const cases: [string, (m: Record<string, any>) => void, RegExp][] = [
      ['a path outside the context', (m) => m.paths.push('../outside'), /invalid context paths/],
      ['an absolute path', (m) => m.paths.push('/etc/passwd'), /invalid context paths/],
      ['an unknown version', (m) => (m.version = 99), /unknown rebuild memo version/],
      ['a config that is not the manifest\'s', (m) => (m.image.config = m.image.config.replace('"os"', '"os" ')), /config does not match/],
      ['a layer no repository has', (m) => (m.image.manifest = m.image.manifest.replace(/"digest":"sha256:[0-9a-f]{64}","size":(\d+)}\]/, `"digest":"sha256:${'e'.repeat(64)}","size":$1}]`)), /could not be mounted/],
      ['an event of another kind', (m) => m.script.push({ type: 'vertex.log', id: 'x', stream: 'stdout', data: 'hi' }), /invalid progress script/],
    ];
    for (const [i, [what, edit, why]] of cases.entries()) {
      const ref = `${proxy.domain}/cache/bad:${i}`;
      await rewriteMemo('cache/pristine:1', `cache/bad:${i}`, edit);
      const b = await machine();
      const out = await build(b, ['--cache-from', ref, '-o', `type=registry,name=${proxy.domain}/bad/img:${i}`, checkout(b)]);
      expect(out.code, `${what}: ${out.text}`).toBe(0);
      expect(memoSaid(out.text), what).toMatch(why);
      expect(await skopeoDigest(`${open.domain}/bad/img:${i}`), what).toBe(imageA);
    }
    const ref = `${proxy.domain}/cache/bad:escapes`;
    await rewriteMemo('cache/pristine:1', 'cache/bad:escapes', (m) => (m.script.find((e: { type: string }) => e.type === 'vertex.cached').name = 'evil \u001b]0;title\u0007 \u001b[2J step'));
    const b = await machine();
    const out = await build(b, ['--cache-from', ref, '-o', `type=registry,name=${proxy.domain}/bad/img:escapes`, checkout(b)]);
    expect(memoSaid(out.text)).toBe('replayed');
    expect(out.text).toContain('evil  ]0;title   [2J step');
    // eslint-disable-next-line no-control-regex
    expect(out.text).not.toMatch(/[\u001b\u0007]/);
  }, 600_000);
});
