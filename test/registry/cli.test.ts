/**
 * The CLI against real registries (open HTTP, htpasswd Basic over TLS, token auth): FROM an image in each,
 * login/logout, build --push and `tsbuild push` checked with skopeo, the HEAD-only re-resolution of an
 * unchanged tag, an unreachable registry with the image in the store, a wrong password, a credential helper,
 * and no secret anywhere in output or store. Runs the compiled CLI (npm run build first).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);
import { chmodSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LocalContentStore } from '../../src/content/store.js';
import { RegistryClient } from '../../src/registry/index.js';
import { Sandbox, repo } from '../e2e/harness.js';
import { CountingProxy, PASSWORD, TestRegistry, USER } from './harness.js';
import { busyboxImage, writeImage, writeIndex, writeLayer } from './images.js';

let open: TestRegistry;
let basic: TestRegistry;
let token: TestRegistry;
let proxy: CountingProxy;
let sb: Sandbox;
let env: Record<string, string>;
const outputs: string[] = [];
const creds = async () => ({ username: USER, password: PASSWORD });

async function run(args: string[], opts: { input?: string; env?: Record<string, string> } = {}) {
  const out = opts.input !== undefined ? await runWithStdin(args, opts.input, opts.env) : await sb.tsbuild(args, { env: { ...env, ...opts.env } });
  outputs.push(out.stdout, out.stderr);
  return out;
}

/** With stdin (login --password-stdin); async, since the token server lives in this process. */
function runWithStdin(args: string[], input: string, extraEnv: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(repo, 'bin/tsbuild'), ...args], {
      env: { ...process.env, TSBUILD_ROOT: sb.root, TSBUILD_RUNTIME: sb.runtime, NO_COLOR: '1', ...env, ...extraEnv },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input);
  });
}

function context(name: string, dockerfile: string): string {
  const d = join(sb.dir, `ctx-${name}`);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'Dockerfile'), dockerfile);
  return d;
}

/** Async: the token server lives in this process, so a blocking call would deadlock against it. */
async function skopeo(args: string[]): Promise<string> {
  return (await execFileP('skopeo', args, { maxBuffer: 16 << 20 })).stdout;
}

beforeAll(async () => {
  [open, basic, token] = await Promise.all([TestRegistry.start('open'), TestRegistry.start('basic'), TestRegistry.start('token')]);
  proxy = await new CountingProxy(open.port).start();
  sb = new Sandbox();
  const dockerDir = join(sb.dir, 'docker');
  mkdirSync(dockerDir, { recursive: true });
  env = { DOCKER_CONFIG: dockerDir, TSBUILD_CERTS_DIR: basic.certsDir };
  // Test images, pushed with our own client.
  const src = new LocalContentStore(join(sb.dir, 'fixture-content'));
  const img = await busyboxImage(src, { extra: 2, unique: 'cli', env: ['PATH=/bin', 'FROM_REGISTRY=yes'] });
  await new RegistryClient({ credentials: async () => undefined }).push([`${open.domain}/base:v1`], img.manifest, { content: src });
  await new RegistryClient({ credentials: creds, certsDir: basic.certsDir }).push([`${basic.domain}/team/base:v1`], img.manifest, { content: src });
  await new RegistryClient({ credentials: creds }).push([`${token.domain}/private/base:v1`], img.manifest, { content: src });
  const amd = await busyboxImage(src, { extra: 1, unique: 'amd64' });
  const arm = await busyboxImage(src, { extra: 1, unique: 'arm64', platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } });
  const index = await writeIndex(src, [
    { manifest: arm.manifest, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
    { manifest: amd.manifest, platform: { os: 'linux', architecture: 'amd64' } },
  ]);
  await new RegistryClient({ credentials: async () => undefined }).push([`${open.domain}/multi:v1`], index, { content: src });
  // One image with a gzip, a zstd and an uncompressed layer.
  const mixed = await writeImage(src, [
    img.layers[0]!,
    await writeLayer(src, [{ name: 'zstd.txt', data: Buffer.from('from a zstd layer\n') }], 1, 'zstd'),
    await writeLayer(src, [{ name: 'plain.txt', data: Buffer.from('from an uncompressed layer\n') }], 1, 'none'),
  ]);
  await new RegistryClient({ credentials: async () => undefined }).push([`${open.domain}/mixed:v1`], mixed.manifest, { content: src });
}, 120_000);

afterAll(async () => {
  await proxy?.stop();
  await Promise.all([open?.stop(), basic?.stop(), token?.stop()]);
  sb?.cleanup();
});

describe('tsbuild with real registries', () => {
  it('FROM an image in the open registry; the base image config feeds the build', async () => {
    const ctx = context('open', `FROM ${open.domain}/base:v1\nRUN echo "env=$FROM_REGISTRY" && cat /data/layer1.txt\n`);
    const out = await run(['build', '--progress', 'plain', '-t', 'from-open:1', ctx]);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stderr + out.stdout).toContain('env=yes');
    expect(out.stderr + out.stdout).toContain('layer 1 cli');
    const images = await run(['images']);
    expect(images.stdout).toContain(`${open.domain}/base`);
  });

  it('an unchanged tag costs one HEAD per build; a moved tag is pulled again', async () => {
    const ctx = context('proxy', `FROM ${proxy.domain}/base:v1\nRUN echo proxied\n`);
    expect((await run(['build', '--progress', 'plain', ctx])).code).toBe(0);
    proxy.reset();
    const again = await run(['build', '--progress', 'plain', ctx]);
    expect(again.code, again.stderr).toBe(0);
    const seen = proxy.requests.filter((r) => r.path !== '/v2/').map((r) => `${r.method} ${r.path.replace(/sha256:[a-f0-9]+/, 'D')}`);
    expect(seen).toEqual(['HEAD /v2/base/manifests/v1']);
    // Move the tag: the next build pulls the new image.
    const src = new LocalContentStore(join(sb.dir, 'fixture-content'));
    const moved = await busyboxImage(src, { extra: 1, unique: 'moved' });
    await new RegistryClient({ credentials: async () => undefined }).push([`${open.domain}/base:v1`], moved.manifest, { content: src });
    proxy.reset();
    const third = await run(['build', '--progress', 'plain', context('proxy2', `FROM ${proxy.domain}/base:v1\nRUN cat /data/layer0.txt\n`)]);
    expect(third.code, third.stderr).toBe(0);
    expect(third.stderr + third.stdout).toContain('layer 0 moved');
    expect(proxy.requests.some((r) => r.method === 'GET' && r.path.includes('/manifests/'))).toBe(true);
  });

  it('the registry unreachable and the image in the store: the build continues with a warning', async () => {
    const ctx = context('offline', `FROM ${proxy.domain}/base:v1\nRUN echo offline-ok\n`);
    await proxy.stop();
    try {
      const out = await run(['build', '--progress', 'plain', ctx], { env: { TSBUILD_REGISTRY_RETRIES: '0' } });
      expect(out.code, out.stderr).toBe(0);
      expect(out.stderr).toMatch(/cannot check the registry.*using the image in the local store/);
    } finally {
      const port = proxy.port;
      proxy = new CountingProxy(open.port);
      await proxy.start();
      void port;
    }
  });

  it('FROM an image with gzip, zstd and uncompressed layers', async () => {
    const out = await run(['build', '--progress', 'plain', context('mixed', `FROM ${open.domain}/mixed:v1\nRUN cat /zstd.txt /plain.txt\n`)]);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stderr + out.stdout).toContain('from a zstd layer');
    expect(out.stderr + out.stdout).toContain('from an uncompressed layer');
  });

  it('chooses the host platform from a manifest list', async () => {
    const out = await run(['build', '--progress', 'plain', context('multi', `FROM ${open.domain}/multi:v1\nRUN cat /data/layer0.txt\n`)]);
    expect(out.code, out.stderr).toBe(0);
    expect(out.stderr + out.stdout).toContain('layer 0 amd64');
    expect(out.stderr + out.stdout).not.toContain('layer 0 arm64');
  });

  it('wrong password: the error names the registry and the scope, exit non-zero; login refuses it too', async () => {
    writeFileSync(join(env.DOCKER_CONFIG!, 'config.json'), JSON.stringify({ auths: { [basic.domain]: { auth: Buffer.from(`${USER}:wrong-pw-123`).toString('base64') } } }));
    const out = await run(['build', '--progress', 'plain', context('wrongpw', `FROM ${basic.domain}/team/base:v1\n`)]);
    expect(out.code).not.toBe(0);
    expect(out.stderr).toContain(basic.domain);
    expect(out.stderr).toContain('repository:team/base:pull');
    expect(out.stderr).not.toContain('wrong-pw-123');
    const login = await run(['login', token.domain, '-u', USER, '--password-stdin'], { input: 'wrong-pw-123\n' });
    expect(login.code).not.toBe(0);
    expect(login.stderr).toContain(token.domain);
    expect(login.stderr).not.toContain('wrong-pw-123');
  });

  it('login (Basic over TLS, CA from certs.d) then FROM the private registry; logout removes the entry', async () => {
    writeFileSync(join(env.DOCKER_CONFIG!, 'config.json'), '{}');
    const login = await run(['login', basic.domain, '-u', USER, '--password-stdin'], { input: PASSWORD + '\n' });
    expect(login.code, login.stderr).toBe(0);
    const cfgPath = join(env.DOCKER_CONFIG!, 'config.json');
    expect(statSync(cfgPath).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(cfgPath, 'utf8')).auths[basic.domain].auth).toBe(Buffer.from(`${USER}:${PASSWORD}`).toString('base64'));
    const out = await run(['build', '--progress', 'plain', context('basic', `FROM ${basic.domain}/team/base:v1\nRUN echo from-basic\n`)]);
    expect(out.code, out.stderr).toBe(0);
    expect((await run(['logout', basic.domain])).code).toBe(0);
    expect(JSON.parse(readFileSync(cfgPath, 'utf8')).auths[basic.domain]).toBeUndefined();
  });

  it('token auth: login, FROM, build --push with two tags; skopeo inspect and copy the result', async () => {
    const login = await run(['login', token.domain, '-u', USER, '--password-stdin'], { input: PASSWORD });
    expect(login.code, login.stderr).toBe(0);
    const ctx = context('push', `FROM ${token.domain}/private/base:v1\nRUN echo pushed > /pushed.txt\n`);
    const out = await run(['build', '--progress', 'plain', '--push', '-t', `${token.domain}/private/app:v1`, '-t', `${token.domain}/private/app:latest`, ctx]);
    expect(out.code, out.stderr).toBe(0);
    const flags = ['--tls-verify=false', '--creds', `${USER}:${PASSWORD}`];
    const v1 = JSON.parse(await skopeo(['inspect', ...flags, `docker://${token.domain}/private/app:v1`]));
    const latest = JSON.parse(await skopeo(['inspect', ...flags, `docker://${token.domain}/private/app:latest`]));
    expect(v1.Digest).toBe(latest.Digest);
    expect(v1.Layers.length).toBe(4);
    const layout = join(sb.dir, 'copied');
    await skopeo(['copy', '--src-tls-verify=false', '--src-creds', `${USER}:${PASSWORD}`, `docker://${token.domain}/private/app:v1`, `oci:${layout}:app`]);
    const idx = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8'));
    expect(idx.manifests[0].digest).toBe(v1.Digest);
  });

  it('tsbuild push NAME pushes from the local store; a second push uploads nothing', async () => {
    const name = `${open.domain}/pushed/app:v2`;
    const b = await run(['build', '--progress', 'plain', '-t', name, context('pushcmd', `FROM ${open.domain}/base:v1\nRUN echo v2 > /v2\n`)]);
    expect(b.code, b.stderr).toBe(0);
    const p = await run(['push', '--progress', 'plain', name]);
    expect(p.code, p.stderr).toBe(0);
    const info = JSON.parse(await skopeo(['inspect', '--tls-verify=false', `docker://${name}`]));
    expect(info.Layers.length).toBe(3); // the moved base:v1 (2 layers) + RUN
    // The base layers came from base:v1 of the same registry: mounted or already there; the new layer and config uploaded.
    expect(p.stderr + p.stdout).toMatch(/pushed .*\(2 uploaded, [0-2] mounted, [0-2] already there\)/);
    const again = await run(['push', '--progress', 'plain', name]);
    expect(again.stderr + again.stdout).toContain('0 uploaded, 0 mounted, 4 already there');
  });

  it('a credential helper from credHelpers (docker-credential-testhelper on PATH) is used', async () => {
    const bin = join(sb.dir, 'helper-bin');
    mkdirSync(bin, { recursive: true });
    const log = join(sb.dir, 'helper.log');
    writeFileSync(join(bin, 'docker-credential-testhelper'), `#!/bin/sh\nread server\necho "$1 $server" >> '${log}'\n[ "$1" = get ] && printf '{"ServerURL":"%s","Username":"${USER}","Secret":"${PASSWORD}"}' "$server"\n`);
    chmodSync(join(bin, 'docker-credential-testhelper'), 0o755);
    writeFileSync(join(env.DOCKER_CONFIG!, 'config.json'), JSON.stringify({ credHelpers: { [token.domain]: 'testhelper' } }));
    const out = await run(['build', '--progress', 'plain', '--pull', context('helper', `FROM ${token.domain}/private/base:v1\nRUN echo helped\n`)], { env: { PATH: `${bin}:${process.env.PATH}` } });
    expect(out.code, out.stderr).toBe(0);
    expect(readFileSync(log, 'utf8')).toContain(`get ${token.domain}`);
  });

  it('no password or token anywhere in the output or the store', () => {
    const all = outputs.join('\n');
    expect(all).not.toContain(PASSWORD);
    expect(all).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\./); // a JWT
    const hits: string[] = [];
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        if (e.isDirectory()) {
          if (!p.includes('/snapshots/')) walk(p);
        } else if (e.isFile() && statSync(p).size < 4 << 20) {
          const text = readFileSync(p).toString('latin1');
          if (text.includes(PASSWORD) || /eyJ[A-Za-z0-9_-]{10,}\.eyJ/.test(text) || text.includes(Buffer.from(`${USER}:${PASSWORD}`).toString('base64'))) hits.push(p);
        }
      }
    };
    walk(sb.root);
    expect(hits).toEqual([]);
  });
});
