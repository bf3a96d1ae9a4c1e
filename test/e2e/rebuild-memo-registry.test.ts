/**
 * The rebuild memo of a build FROM a registry image (src/cli/tag-check.ts, replay.ts), through the real CLI
 * against a real docker-registry: an unchanged rebuild answers with one HEAD of the base image's manifest by
 * tag (counted by a proxy in front of the registry); a moved tag, --pull, a changed file or build arg send
 * the build down the normal path; a registry that wants a token is checked through the full client.
 * Also: when "build finished" is printed, the build's history record and memo are already written.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LocalContentStore } from '../../src/content/store.js';
import { RegistryClient } from '../../src/registry/index.js';
import { Sandbox } from './harness.js';
import { parseSteps } from './cache-steps.js';
import { CountingProxy, TestRegistry, USER, PASSWORD } from '../registry/harness.js';
import { busyboxImage } from '../registry/images.js';

let reg: TestRegistry;
let proxy: CountingProxy;
let tokenReg: TestRegistry;
let basicReg: TestRegistry;
let sb: Sandbox;
let fixtures: LocalContentStore;
let n = 0;

const debug = { env: { TSBUILD_MEMO_DEBUG: '1' } };
const memoSaid = (stderr: string) => /rebuild memo: (.*)/.exec(stderr)?.[1];
const imageDigest = (stderr: string) => /writing image (sha256:[0-9a-f]{64})/.exec(stderr)?.[1];

/** Push a new busybox-based image (unique content) to `ref` of `registry`. */
async function pushBase(ref: string, opts: { auth?: boolean; certsDir?: string } = {}): Promise<string> {
  const img = await busyboxImage(fixtures, { extra: 1, unique: `base-${++n}` });
  const credentials = async () => (opts.auth ? { username: USER, password: PASSWORD } : undefined);
  await new RegistryClient({ credentials, ...(opts.certsDir ? { certsDir: opts.certsDir } : {}) }).push([ref], img.manifest, { content: fixtures });
  return img.manifest.digest;
}

/** A project FROM `base`, old enough (over a second) for the memo to vouch for its files. */
async function project(base: string): Promise<string> {
  const dir = join(sb.dir, `p${++n}`);
  mkdirSync(join(dir, 'src'), { recursive: true });
  writeFileSync(join(dir, 'Dockerfile'), `FROM ${base}\nARG V=1\nCOPY src/ /src/\nRUN echo $V > /v\n`);
  writeFileSync(join(dir, 'src/a.txt'), `a${n}\n`);
  await sleep(1100);
  return dir;
}

const manifestRequests = () => proxy.requests.filter((r) => r.path.includes('/manifests/'));

beforeAll(async () => {
  reg = await TestRegistry.start('open');
  proxy = await new CountingProxy(reg.port).start();
  tokenReg = await TestRegistry.start('token');
  basicReg = await TestRegistry.start('basic');
  sb = new Sandbox();
  fixtures = new LocalContentStore(join(sb.dir, 'fixture-content'));
}, 120_000);

afterAll(async () => {
  await reg?.stop();
  await tokenReg?.stop();
  await basicReg?.stop();
  sb?.cleanup();
});

describe('rebuild memo FROM a registry image', () => {
  it('answers an unchanged rebuild with one HEAD of the manifest by tag, and runs nothing', async () => {
    const base = `${proxy.domain}/memo/base:v1`;
    await pushBase(base);
    const dir = await project(base);
    const cold = await sb.build(['-t', 'regmemo:1', dir], debug);
    expect(cold.stderr).toMatch(/rebuild memo: saved/);
    proxy.reset();
    const runs = sb.runcRuns();
    const again = await sb.build(['-t', 'regmemo:1', dir], debug);
    expect(memoSaid(again.stderr)).toBe('replayed');
    expect(imageDigest(again.stderr)).toBe(imageDigest(cold.stderr));
    expect(sb.runcRuns()).toBe(runs);
    expect(proxy.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['HEAD /v2/memo/base/manifests/v1']);
    expect(proxy.requests[0]!.authorized).toBe(false);
  }, 120_000);

  it('sees a moved tag on the next build, pulls it, and rebuilds on the new base', async () => {
    const base = `${proxy.domain}/memo/moved:v1`;
    await pushBase(base);
    const dir = await project(base);
    const first = await sb.build(['-t', 'regmemo:2', dir], debug);
    expect(memoSaid((await sb.build(['-t', 'regmemo:2', dir], debug)).stderr)).toBe('replayed');

    const moved = await pushBase(base);
    const runs = sb.runcRuns();
    const after = await sb.build(['-t', 'regmemo:2', dir], debug);
    expect(memoSaid(after.stderr)).toBe(`${base} moved in its registry (now ${moved})`);
    expect(after.stderr).toMatch(new RegExp(`pulling ${base}`));
    expect(parseSteps(after.stderr).get('RUN echo $V > /v')?.cached).toBe(false);
    expect(sb.runcRuns()).toBe(runs + 1);
    expect(imageDigest(after.stderr)).not.toBe(imageDigest(first.stderr));
    // The memo of the new state answers the next build.
    expect(memoSaid((await sb.build(['-t', 'regmemo:2', dir], debug)).stderr)).toBe('replayed');
  }, 120_000);

  it('--pull always asks the registry again (never the memo)', async () => {
    const base = `${proxy.domain}/memo/pull:v1`;
    await pushBase(base);
    const dir = await project(base);
    await sb.build(['-t', 'regmemo:3', dir], debug);
    expect(memoSaid((await sb.build(['-t', 'regmemo:3', dir], debug)).stderr)).toBe('replayed');
    // Twice: the second --pull build is the same command as the first, with nothing changed.
    for (let i = 0; i < 2; i++) {
      proxy.reset();
      const pulled = await sb.build(['--pull', '-t', 'regmemo:3', dir], debug);
      expect(pulled.stderr).not.toMatch(/rebuild memo: replayed/);
      expect(pulled.stderr).toMatch(new RegExp(`pulling ${base}`));
      expect(manifestRequests().some((r) => r.method === 'GET' && r.path === '/v2/memo/pull/manifests/v1')).toBe(true);
    }
  }, 120_000);

  it('does not answer after a context file or a build arg changes', async () => {
    const base = `${proxy.domain}/memo/ctx:v1`;
    await pushBase(base);
    const dir = await project(base);
    await sb.build(['-t', 'regmemo:4', dir], debug);
    expect(memoSaid((await sb.build(['-t', 'regmemo:4', dir], debug)).stderr)).toBe('replayed');
    writeFileSync(join(dir, 'src/a.txt'), 'changed\n');
    const changed = await sb.build(['-t', 'regmemo:4', dir], debug);
    expect(memoSaid(changed.stderr)).toMatch(/src\/a\.txt changed/);
    expect(parseSteps(changed.stderr).get('COPY src/ /src/')?.cached).toBe(false);
    const arg = await sb.build(['--build-arg', 'V=2', '-t', 'regmemo:4', dir], debug);
    expect(memoSaid(arg.stderr)).toBe('no memo of this command');
    expect(parseSteps(arg.stderr).get('RUN echo $V > /v')?.cached).toBe(false);
  }, 120_000);

  it('a registry that wants a token: the full client checks the tag, and a moved tag is still seen', async () => {
    // Anonymous pulls of public/* get a token (test/registry/harness.ts); a bare HEAD gets a 401.
    const base = `${tokenReg.domain}/public/base:v1`;
    await pushBase(base, { auth: true });
    const dir = await project(base);
    await sb.build(['-t', 'regmemo:5', dir], debug);
    const tokens = tokenReg.tokenStats.get;
    const again = await sb.build(['-t', 'regmemo:5', dir], debug);
    expect(memoSaid(again.stderr)).toBe('replayed');
    expect(tokenReg.tokenStats.get).toBeGreaterThan(tokens);

    const moved = await pushBase(base, { auth: true });
    const after = await sb.build(['-t', 'regmemo:5', dir], debug);
    expect(memoSaid(after.stderr)).toBe(`${base} moved in its registry (now ${moved})`);
    expect(after.stderr).toMatch(new RegExp(`pulling ${base}`));
  }, 120_000);

  it('a registry with a private CA and a password: the full client checks the tag; no credential in the output', async () => {
    const base = `${basicReg.domain}/team/base:v1`;
    await pushBase(base, { auth: true, certsDir: basicReg.certsDir });
    const docker = join(sb.dir, 'docker');
    mkdirSync(docker, { recursive: true });
    writeFileSync(join(docker, 'config.json'), JSON.stringify({ auths: { [basicReg.domain]: { auth: Buffer.from(`${USER}:${PASSWORD}`).toString('base64') } } }));
    const env = { ...debug.env, DOCKER_CONFIG: docker, TSBUILD_CERTS_DIR: basicReg.certsDir };
    const dir = await project(base);
    await sb.build(['-t', 'regmemo:7', dir], { env });
    const again = await sb.build(['-t', 'regmemo:7', dir], { env });
    expect(memoSaid(again.stderr)).toBe('replayed');
    const moved = await pushBase(base, { auth: true, certsDir: basicReg.certsDir });
    const after = await sb.build(['-t', 'regmemo:7', dir], { env });
    expect(memoSaid(after.stderr)).toBe(`${base} moved in its registry (now ${moved})`);
    for (const out of [again, after]) {
      expect(out.stderr).not.toContain(PASSWORD);
      expect(out.stderr).not.toContain(Buffer.from(`${USER}:${PASSWORD}`).toString('base64'));
    }
  }, 120_000);
});

describe('nothing after "build finished"', () => {
  it('the history record and the rebuild memo exist when the closing line is printed', async () => {
    const base = `${proxy.domain}/memo/tail:v1`;
    await pushBase(base);
    const dir = await project(base);
    const history = join(sb.root, 'history');
    const memos = join(sb.root, 'state', 'memo');
    const count = (d: string) => (existsSync(d) ? readdirSync(d).filter((f) => f.endsWith('.json')).length : 0);
    const before = { history: count(history), memos: count(memos) };
    const started = Date.now();
    const child = sb.spawn(['build', '--progress', 'plain', '-t', 'regmemo:6', dir]);
    let stderr = '';
    let seen: { history: number; memos: number; newest: number } | undefined;
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
      if (seen === undefined && /build finished in/.test(stderr)) {
        // Freeze the build where it printed the line, then look at the store.
        child.kill('SIGSTOP');
        const newest = Math.max(0, ...(existsSync(memos) ? readdirSync(memos).map((f) => statSync(join(memos, f)).mtimeMs) : []));
        seen = { history: count(history), memos: count(memos), newest };
        child.kill('SIGCONT');
      }
    });
    expect(await exited).toBe(0);
    expect(seen, stderr).toBeDefined();
    expect(seen!.history).toBe(before.history + 1);
    expect(seen!.memos).toBe(before.memos + 1);
    expect(seen!.newest).toBeGreaterThanOrEqual(started - 1000);
  }, 120_000);
});
