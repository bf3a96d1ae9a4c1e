/**
 * A fresh overlay on a lower stack the executor has seen before is mounted by runc inside the container's
 * mount namespace, never on the host (src/executor/rootfs-facts.ts); anything the executor does not know
 * for sure (a new stack, a changed /etc, a missing cwd or mount point) takes the host-mount path.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { chown, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Mount } from '../../../src/snapshot/types.js';
import { cleanupStaleContainers, RuncExecutor } from '../../../src/executor/runc.js';
import { isMountPoint } from '../../../src/executor/mountpoint.js';
import type { ProcessSpec, RunOptions, RunResult } from '../../../src/executor/types.js';
import { makeBusyboxRootfs } from './busybox-rootfs.js';
import { closeExecutorFixture, openExecutorFixture, startDetachedContainer, type ExecutorFixture } from './fixture.js';

let fx: ExecutorFixture;
/** A rootfs that carries the container's mount points and a passwd file, as a base image does. */
let base: string;
let n = 0;

beforeAll(async () => {
  fx = await openExecutorFixture('tsbuild-inner-');
  base = join(fx.dir, 'base');
  await makeBusyboxRootfs(base);
  for (const d of ['proc', 'dev', 'sys', 'etc', 'work']) await mkdir(join(base, d));
  for (const f of ['etc/hosts', 'etc/resolv.conf']) await writeFile(join(base, f), '');
  await chown(join(base, 'work'), 1000, 1000);
  await writeFile(join(base, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nold:x:1000:1000::/home/old:/bin/sh\n');
  await writeFile(join(base, 'etc/group'), 'root:x:0:\nold:x:1000:\n');
});

afterAll(() => closeExecutorFixture(fx));

interface Observed extends RunResult {
  stdout: string;
  /** Whether the rootfs was a mount point on the host while the step ran. */
  hostMounted: boolean;
}

/** Run `script` (it must run for a while) and look at the host's mount table while it runs. */
async function observe(mounts: Mount[], script: string, p: Partial<ProcessSpec> = {}, opts: RunOptions = {}): Promise<Observed> {
  const out: Buffer[] = [];
  const running = fx.exec.run(mounts, { args: ['/bin/sh', '-c', script], env: [], cwd: '/', user: '', ...p }, { ...opts, onStdout: (c) => out.push(c) });
  const runcRoot = join(fx.stateDir, 'runc');
  let hostMounted: boolean | undefined;
  for (let i = 0; i < 200 && hostMounted === undefined; i++) {
    // runc's state dir exists from container creation until it is deleted: the step is running.
    if ((await readdir(runcRoot).catch(() => [])).length > 0) {
      hostMounted = (await readFile('/proc/self/mountinfo', 'utf8')).includes(join(fx.stateDir, 'bundles'));
    } else {
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  const r = await running;
  if (hostMounted === undefined) throw new Error('the step was never seen running');
  return { ...r, stdout: Buffer.concat(out).toString(), hostMounted };
}

/** A fresh writable overlay over `lowers` (nearest first). */
async function overlay(...lowers: string[]): Promise<{ mounts: Mount[]; upper: string }> {
  const d = join(fx.dir, `inner-ov${n++}`);
  const upper = join(d, 'upper');
  const work = join(d, 'work');
  await mkdir(upper, { recursive: true });
  await mkdir(work);
  return { mounts: [{ type: 'overlay', source: 'overlay', options: [`lowerdir=${lowers.join(':')}`, `upperdir=${upper}`, `workdir=${work}`] }], upper };
}

/** A layer dir (as a committed snapshot's) with `files`. */
async function layer(files: Record<string, string>): Promise<string> {
  const d = join(fx.dir, `inner-layer${n++}`);
  for (const [p, content] of Object.entries(files)) {
    await mkdir(join(d, p, '..'), { recursive: true });
    await writeFile(join(d, p), content);
  }
  return d;
}

async function assertNoLeftovers(): Promise<void> {
  expect(execFileSync('runc', ['--root', join(fx.stateDir, 'runc'), 'list', '-q'], { encoding: 'utf8' }).trim()).toBe('');
  expect(await readFile('/proc/self/mountinfo', 'utf8')).not.toContain(fx.stateDir);
  expect(await readdir(join(fx.stateDir, 'bundles')).catch(() => [])).toEqual([]);
}

describe('rootfs mounted inside the container', () => {
  it('a new stack is mounted on the host; a fresh overlay on the same stack is mounted by runc, with the same view', async () => {
    const script = 'id -u; id -G; echo $HOME; pwd; ls /etc; echo w > /work/out; sleep 0.3';
    const first = await overlay(base);
    const a = await observe(first.mounts, script, { user: 'old', cwd: '/work' });
    expect(a.hostMounted).toBe(true);
    const second = await overlay(base);
    const b = await observe(second.mounts, script, { user: 'old', cwd: '/work' });
    expect(b.hostMounted).toBe(false);
    expect(b.exitCode).toBe(0);
    expect(b.stdout).toBe(a.stdout);
    expect(b.stdout).toBe('1000\n1000\n/home/old\n/work\ngroup\nhosts\npasswd\nresolv.conf\n');
    // the step's writes land in the upper dir, and nothing else does (no mount-point stubs)
    expect(await readdir(second.upper)).toEqual(['work']);
    expect(await readdir(join(second.upper, 'work'))).toEqual(['out']);
    expect((await stat(join(second.upper, 'work/out'))).uid).toBe(1000);
    await assertNoLeftovers();
  });

  it('carries what it knows up over a layer that left /etc alone, not over one that changed it', async () => {
    await observe((await overlay(base)).mounts, 'sleep 0.2'); // learn `base` (root user)
    const unrelated = await layer({ 'opt/tool': 'x' });
    const up = await observe((await overlay(unrelated, base)).mounts, 'cat /opt/tool; id -u; sleep 0.2');
    expect(up).toMatchObject({ hostMounted: false, stdout: 'x0\n', exitCode: 0 });
    // The layer below added a user: the executor must read the new passwd, on the host-mount path.
    const etc = await layer({
      'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\nnew:x:2000:2000::/home/new:/bin/sh\n',
      'etc/group': 'root:x:0:\nnew:x:2000:\nextra:x:3000:new\n',
    });
    const changed = await observe((await overlay(etc, unrelated, base)).mounts, 'id -u; id -G; sleep 0.2', { user: 'new' });
    expect(changed).toMatchObject({ hostMounted: true, stdout: '2000\n2000 3000\n', exitCode: 0 });
    await assertNoLeftovers();
  });

  it('a missing cwd or mount point takes the host-mount path, which creates them and removes the stubs', async () => {
    await observe((await overlay(base)).mounts, 'sleep 0.2');
    const cwd = await overlay(base);
    const r = await observe(cwd.mounts, 'pwd; sleep 0.2', { cwd: '/made/here' });
    expect(r).toMatchObject({ hostMounted: true, stdout: '/made/here\n' });
    expect(await readdir(join(cwd.upper, 'made'))).toEqual(['here']);
    const tmpfs = await overlay(base);
    const t = await observe(tmpfs.mounts, 'grep -c " /scratch " /proc/self/mountinfo; sleep 0.2', {}, { mounts: [{ type: 'tmpfs', destination: '/scratch' }] });
    expect(t).toMatchObject({ hostMounted: true, stdout: '1\n' });
    expect(await readdir(tmpfs.upper)).toEqual([]);
    await assertNoLeftovers();
  });

  it('an upper dir that is not empty takes the host-mount path (its files are part of the view)', async () => {
    await observe((await overlay(base)).mounts, 'sleep 0.2');
    const o = await overlay(base);
    await mkdir(join(o.upper, 'etc'));
    await writeFile(join(o.upper, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nplanted:x:4242:4242::/:/bin/sh\n');
    const r = await observe(o.mounts, 'id -u; sleep 0.2', { user: 'planted' });
    expect(r).toMatchObject({ hostMounted: true, stdout: '4242\n' });
    await assertNoLeftovers();
  });

  it('abort during an inner-mounted step leaves no container, mount or bundle', async () => {
    await observe((await overlay(base)).mounts, 'sleep 0.2');
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    const p = fx.exec.run((await overlay(base)).mounts, { args: ['/bin/sh', '-c', 'sleep 100'], env: [], cwd: '/', user: '' }, { signal: ac.signal });
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    await assertNoLeftovers();
  });

  it('a killed build\'s inner-mounted container is removed by cleanupStaleContainers, with nothing mounted on the host', async () => {
    const dead = spawnSync('true').pid as number;
    const id = `tsb-${dead}-inner0`;
    const marker = `sleep ${200000 + (process.pid % 100000)}`; // a command line no other process has
    const bundle = join(fx.stateDir, 'bundles', id);
    const rootDir = join(bundle, 'rootfs');
    await mkdir(rootDir, { recursive: true });
    const { mounts, upper } = await overlay(base);
    expect(await startDetachedContainer(fx.stateDir, id, rootDir, ['/bin/sh', '-c', `echo x > /work/left; exec ${marker}`], { destination: '/', type: 'overlay', source: 'overlay', options: mounts[0]!.options })).toBe(0);
    for (let i = 0; i < 100 && !(await readdir(join(upper, 'work')).catch(() => [])).length; i++) await new Promise((r) => setTimeout(r, 20));
    expect(await readdir(join(upper, 'work'))).toEqual(['left']); // the step ran in the overlay
    expect(await isMountPoint(rootDir)).toBe(false); // ... which the host never saw
    const pgrep = () => spawnSync('pgrep', ['-f', marker], { encoding: 'utf8' }).stdout.trim();
    for (let i = 0; i < 100 && pgrep() === ''; i++) await new Promise((r) => setTimeout(r, 20));
    expect(pgrep()).not.toBe('');

    await cleanupStaleContainers(fx.stateDir);

    await assertNoLeftovers();
    expect(pgrep()).toBe(''); // the step's process is gone
    expect(await readFile(join(upper, 'work/left'), 'utf8')).toBe('x\n');
  });

  it('a runtime that refuses a mount over "/" gets the step again the host-mount way, and is not asked again', async () => {
    const wrapper = join(fx.dir, 'refusing-runc');
    const refusals = join(fx.dir, 'refusals');
    await writeFile(
      wrapper,
      [
        '#!/bin/sh',
        'log=; bundle=; prev=',
        'for a in "$@"; do case "$prev" in --log) log=$a;; --bundle) bundle=$a;; esac; prev=$a; done',
        'if [ -n "$bundle" ] && grep -q \'"destination":"/"\' "$bundle/config.json"; then',
        `  echo x >> ${refusals}`,
        '  echo \'{"level":"error","msg":"runc run failed: unable to start container process: error during container init: error mounting \\"overlay\\" to rootfs at \\"/\\": mountpoint is on the top of rootfs"}\' >> "$log"',
        '  exit 1',
        'fi',
        'exec runc "$@"',
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    const exec = new RuncExecutor({ stateDir: fx.stateDir, runtime: wrapper });
    const out: string[] = [];
    const step = async () => {
      const { mounts, upper } = await overlay(base);
      const r = await exec.run(mounts, { args: ['/bin/sh', '-c', 'echo ran > /work/f; echo ok'], env: [], cwd: '/', user: '' }, { onStdout: (c) => out.push(String(c)) });
      return { r, files: await readdir(join(upper, 'work')) };
    };
    for (let i = 0; i < 3; i++) expect(await step()).toEqual({ r: { exitCode: 0 }, files: ['f'] });
    expect(out.join('')).toBe('ok\nok\nok\n'); // each step ran once
    expect((await readFile(refusals, 'utf8')).split('\n').filter(Boolean)).toHaveLength(1);
    await assertNoLeftovers();
  });
});
