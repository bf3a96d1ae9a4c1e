import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanupStaleContainers, RuncExecutor } from '../../../src/executor/runc.js';
import { detectCgroupSupport, parseProcCgroup } from '../../../src/executor/cgroup.js';
import { mountAll } from '../../../src/snapshot/mount.js';
import type { Mount } from '../../../src/snapshot/types.js';
import type { ProcessSpec, RunOptions, RunResult } from '../../../src/executor/types.js';
import { makeBusyboxRootfs } from './busybox-rootfs.js';
import { closeExecutorFixture, openExecutorFixture, startDetachedContainer, type ExecutorFixture } from './fixture.js';

let fx: ExecutorFixture;
let dir: string;
let lower: string;
let stateDir: string;
let exec: RuncExecutor;

beforeAll(async () => {
  fx = await openExecutorFixture('tsbuild-runc-');
  ({ dir, lower, stateDir, exec } = fx);
});

afterAll(() => closeExecutorFixture(fx));

const overlay = (lowerDir?: string) => fx.overlay(lowerDir);

interface Captured extends RunResult {
  stdout: string;
  stderr: string;
}

async function sh(script: string, p: Partial<ProcessSpec> = {}, opts: RunOptions = {}, mounts?: Mount[]): Promise<Captured> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const m = mounts ?? (await overlay()).mounts;
  const r = await exec.run(
    m,
    { args: ['/bin/sh', '-c', script], env: [], cwd: '/', user: '', ...p },
    { ...opts, onStdout: (c) => out.push(c), onStderr: (c) => err.push(c) },
  );
  return { ...r, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
}

async function assertNoLeftovers(): Promise<void> {
  const listed = execFileSync('runc', ['--root', join(stateDir, 'runc'), 'list', '-q'], { encoding: 'utf8' }).trim();
  expect(listed).toBe('');
  expect(await readFile('/proc/self/mountinfo', 'utf8')).not.toContain(stateDir);
  expect(await readdir(join(stateDir, 'bundles')).catch(() => [])).toEqual([]);
}

describe('RuncExecutor', () => {
  it('never follows a symlink the step planted where a mount-point stub was (host files survive)', async () => {
    // The rootfs has no /etc: /etc, /etc/hosts and /etc/resolv.conf are our stubs. The step swaps /etc for
    // a symlink to a host directory; removing the stubs afterwards must not delete the host's files.
    const victim = join(dir, 'victim');
    await mkdir(victim, { recursive: true });
    await writeFile(join(victim, 'hosts'), 'host file\n');
    await writeFile(join(victim, 'resolv.conf'), '');
    const { mounts, upper } = await overlay();
    const r = await sh(`mv /etc /etc.old && ln -s ${victim} /etc`, {}, {}, mounts);
    expect(r.exitCode).toBe(0);
    expect(await readFile(join(victim, 'hosts'), 'utf8')).toBe('host file\n');
    expect(existsSync(join(victim, 'resolv.conf'))).toBe(true);
    expect((await readdir(upper)).sort()).toEqual(['etc', 'etc.old']); // the step's own changes stay
    await assertNoLeftovers();
  });

  it('propagates the exit code', async () => {
    expect((await sh('exit 3')).exitCode).toBe(3);
    expect((await sh('true')).exitCode).toBe(0);
    await assertNoLeftovers();
  });

  it('streams stdout and stderr separately', async () => {
    const chunks: string[] = [];
    const r = await exec.run(
      (await overlay()).mounts,
      { args: ['/bin/sh', '-c', 'echo out1; echo err1 >&2; sleep 0.3; echo out2'], env: [], cwd: '/', user: '' },
      { onStdout: (c) => chunks.push('O:' + c.toString()), onStderr: (c) => chunks.push('E:' + c.toString()) },
    );
    expect(r.exitCode).toBe(0);
    expect(chunks.filter((c) => c.startsWith('O:')).join('').replace(/O:/g, '')).toBe('out1\nout2\n');
    expect(chunks.filter((c) => c.startsWith('E:')).join('').replace(/E:/g, '')).toBe('err1\n');
    // out2 comes 300 ms later, so it arrives as its own chunk after out1.
    expect(chunks.indexOf('O:out2\n')).toBeGreaterThan(chunks.indexOf('O:out1\n'));
  });

  it('passes env, adds default PATH and HOME, and runs in cwd (created when missing)', async () => {
    const r = await sh('echo "$FOO|$PATH|$HOME|$(pwd)"', { env: ['FOO=bar baz'], cwd: '/work/sub' });
    expect(r.stdout).toBe('bar baz|/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin|/root|/work/sub\n');
    const r2 = await sh('echo "$PATH|$HOME"', { env: ['PATH=/bin', 'HOME=/h'] });
    expect(r2.stdout).toBe('/bin|/h\n');
  });

  it('runs as uid:gid, and creates a missing cwd owned by that user', async () => {
    const { mounts, upper } = await overlay();
    const r = await sh('id -u; id -g; touch /w/f && echo ok', { user: '1234:5678', cwd: '/w' }, {}, mounts);
    expect(r.stdout).toBe('1234\n5678\nok\n');
    const st = await stat(join(upper, 'w'));
    expect([st.uid, st.gid]).toEqual([1234, 5678]);
  });

  it('runs as a user named in the rootfs passwd file, with its groups and home', async () => {
    const withEtc = join(dir, 'lower-etc');
    await mkdir(join(withEtc, 'etc'), { recursive: true });
    await writeFile(join(withEtc, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n');
    await writeFile(join(withEtc, 'etc/group'), 'root:x:0:\napp:x:1001:\nextra:x:2000:app\n');
    const { mounts } = await overlay(`${withEtc}:${lower}`);
    const r = await sh('id -u; id -g; id -G; echo $HOME', { user: 'app' }, {}, mounts);
    expect(r.stdout).toBe('1000\n1001\n1001 2000\n/home/app\n');
  });

  it('fails with UNKNOWN_USER for a name not in passwd, and cleans up', async () => {
    await expect(sh('true', { user: 'nobody-here' })).rejects.toMatchObject({ code: 'UNKNOWN_USER' });
    await assertNoLeftovers();
  });

  it('runs the step as PID 1 in its own pid namespace', async () => {
    const r = await sh('echo $$; ls /proc | grep -E "^[0-9]+$" | wc -l');
    const [pid, count] = r.stdout.trim().split('\n');
    expect(pid).toBe('1');
    // sh, ls, grep, wc (and maybe a subshell): nowhere near the host's process count.
    expect(Number(count)).toBeLessThan(8);
    const hostPids = (await readdir('/proc')).filter((e) => /^\d+$/.test(e)).length;
    expect(hostPids).toBeGreaterThan(Number(count));
  });

  it('sets the hostname and writes it to /etc/hosts', async () => {
    const r = await sh('hostname; grep -c "step-host" /etc/hosts', {}, { hostname: 'step-host' });
    expect(r.stdout).toBe('step-host\n1\n');
  });

  it('removes the mount-point stubs it created, leaving nothing in the layer', async () => {
    const { mounts, upper } = await overlay();
    expect(existsSync(join(lower, 'etc'))).toBe(false);
    const r = await sh('test -f /etc/hosts && test -f /etc/resolv.conf && test -d /proc/self && echo present', {}, {}, mounts);
    expect(r.stdout).toBe('present\n');
    // /etc, /etc/hosts, /etc/resolv.conf, /proc, /dev, /sys were all created and removed again.
    expect(await readdir(upper)).toEqual([]);
  });

  it('keeps what the step wrote into a stub directory', async () => {
    const { mounts, upper } = await overlay();
    await sh('echo hi > /etc/motd', {}, {}, mounts);
    expect(await readdir(upper)).toEqual(['etc']);
    expect(await readdir(join(upper, 'etc'))).toEqual(['motd']);
  });

  it('restores the mtime of an existing /etc after removing stubs in it', async () => {
    const withEtc = join(dir, 'lower-etc-mtime');
    await mkdir(join(withEtc, 'etc'), { recursive: true });
    await writeFile(join(withEtc, 'etc/os-release'), 'x\n');
    execFileSync('touch', ['-m', '-d', '@1000000000.123456789', join(withEtc, 'etc')]);
    const { mounts, upper } = await overlay(`${withEtc}:${lower}`);
    await sh('true', {}, {}, mounts);
    // overlayfs copied /etc up when the stubs were made; its mtime is the original one again.
    const st = await stat(join(upper, 'etc'), { bigint: true });
    expect(st.mtimeNs).toBe(1000000000123456789n);
    expect(await readdir(join(upper, 'etc'))).toEqual([]);
  });

  it('network none has only loopback; host shares the host network', async () => {
    const none = await sh('cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d " "', {}, { network: 'none' });
    expect(none.stdout.trim().split('\n')).toEqual(['lo']);
    const host = await sh('cat /proc/net/dev | tail -n +3 | wc -l', {}, { network: 'host' });
    const hostIfs = (await readFile('/proc/net/dev', 'utf8')).trim().split('\n').length - 2;
    expect(Number(host.stdout.trim())).toBe(hostIfs);
  });

  it('abort kills the step promptly and leaves no runc state and no mount', async () => {
    const ac = new AbortController();
    const started = Date.now();
    setTimeout(() => ac.abort(), 200);
    await expect(sh('sleep 100', {}, { signal: ac.signal })).rejects.toMatchObject({ name: 'AbortError' });
    // `sleep 100` would keep it 100 s: anything well under that shows the abort ended the step (no tight timing).
    expect(Date.now() - started).toBeLessThan(60_000);
    await assertNoLeftovers();
  });

  it('abort kills every process of the step, not only PID 1', async () => {
    const ac = new AbortController();
    // busybox runs applets by argv[0], so `exec -a` cannot rename one: the marker is sleep's argument.
    const marker = `sleep ${300000 + (process.pid % 100000)}`;
    const pgrep = () => spawnSync('pgrep', ['-f', marker], { encoding: 'utf8' }).stdout.trim();
    const running = sh(`(${marker} &) ; sleep 100`, {}, { signal: ac.signal });
    running.catch(() => {});
    for (let i = 0; i < 250 && pgrep() === ''; i++) await new Promise((r) => setTimeout(r, 20));
    expect(pgrep()).not.toBe(''); // the orphan exists
    ac.abort();
    await expect(running).rejects.toThrow();
    expect(pgrep()).toBe('');
    await assertNoLeftovers();
  });

  it('an already aborted signal runs nothing', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(sh('true', {}, { signal: ac.signal })).rejects.toMatchObject({ name: 'AbortError' });
    await assertNoLeftovers();
  });

  it('reports a step killed by a signal as 128+n', async () => {
    // PID 1 ignores SIGKILL sent from inside its namespace: kill it from outside, as the OOM killer would.
    const root = join(stateDir, 'runc');
    // Kill only once the step's own process runs ("up"): a KILL during runc's init is runc failing instead.
    let up!: () => void;
    const isUp = new Promise<void>((r) => (up = r));
    const p = exec.run((await overlay()).mounts, { args: ['/bin/sh', '-c', 'echo up; sleep 100'], env: [], cwd: '/', user: '' }, { onStdout: (c) => String(c).includes('up') && up() });
    p.catch(() => {});
    await isUp;
    const id = execFileSync('runc', ['--root', root, 'list', '-q'], { encoding: 'utf8' }).trim();
    expect(id).not.toBe('');
    execFileSync('runc', ['--root', root, 'kill', id, 'KILL']);
    expect(await p).toMatchObject({ exitCode: 137, signal: 'SIGKILL' });
    await assertNoLeftovers();
  });

  it('a command that cannot be started is EXEC_START_FAILED', async () => {
    const p = exec.run((await overlay()).mounts, { args: ['/nonexistent'], env: [], cwd: '/', user: '' });
    await expect(p).rejects.toMatchObject({ code: 'EXEC_START_FAILED' });
    await assertNoLeftovers();
  });

  it('works on a bind-mounted plain directory rootfs', async () => {
    const plain = join(dir, 'plain');
    await makeBusyboxRootfs(plain);
    const r = await sh('echo made > /made.txt; cat /made.txt', {}, {}, [{ type: 'bind', source: plain, options: ['rbind'] }]);
    expect(r.stdout).toBe('made\n');
    expect(await readFile(join(plain, 'made.txt'), 'utf8')).toBe('made\n');
    expect((await readdir(plain)).sort()).toEqual(['bin', 'made.txt']);
    await assertNoLeftovers();
  });

  it('missing runtime is RUNTIME_NOT_FOUND', async () => {
    const bad = new RuncExecutor({ stateDir, runtime: 'no-such-runc-binary' });
    await expect(bad.run((await overlay()).mounts, { args: ['true'], env: [], cwd: '/', user: '' })).rejects.toMatchObject({
      code: 'RUNTIME_NOT_FOUND',
      hint: 'apt-get install runc',
    });
    await assertNoLeftovers();
  });

  it('puts the step in a cgroup nested under our own, with a pids limit, removed afterwards', async () => {
    const cg = await detectCgroupSupport();
    const own = parseProcCgroup(await readFile('/proc/self/cgroup', 'utf8'));
    let seen = '';
    let pidsMax = '';
    await exec.run(
      (await overlay()).mounts,
      { args: ['/bin/sh', '-c', 'cat /proc/self/cgroup; sleep 0.5'], env: [], cwd: '/', user: '' },
      {
        onStdout: (c) => {
          seen += c.toString();
          const inner = parseProcCgroup(seen).get(cg.version === 1 ? 'pids' : '');
          if (inner && cg.pids && !pidsMax) {
            const root = cg.version === 1 ? '/sys/fs/cgroup/pids' : '/sys/fs/cgroup';
            pidsMax = execFileSync('cat', [join(root, inner, 'pids.max')], { encoding: 'utf8' }).trim();
          }
        },
      },
    );
    const inner = parseProcCgroup(seen);
    const key = cg.version === 1 ? 'pids' : '';
    const path = inner.get(key) ?? '';
    expect(path.startsWith(join(own.get(key) ?? '/', 'tsbuild-tsb-'))).toBe(true);
    if (cg.version === 1 && own.has('memory')) {
      expect(inner.get('memory')?.startsWith(join(own.get('memory') ?? '/', 'tsbuild-tsb-'))).toBe(true);
    }
    if (cg.pids) expect(pidsMax).toBe('16384');
    const root = cg.version === 1 ? '/sys/fs/cgroup/pids' : '/sys/fs/cgroup';
    expect(existsSync(join(root, path))).toBe(false);
  });
});

describe('cleanupStaleContainers', () => {
  it('removes the container, stubs, mount and bundle of a dead build', async () => {
    const dead = spawnSync('true').pid as number;
    const id = `tsb-${dead}-abcdef`;
    const bundle = join(stateDir, 'bundles', id);
    const rootDir = join(bundle, 'rootfs');
    const { mounts, upper } = await overlay();
    await mkdir(rootDir, { recursive: true });
    await mountAll(mounts, rootDir);
    // What a killed run leaves: stubs in the rootfs and their record, files, config, a running container.
    await mkdir(join(rootDir, 'proc'));
    await mkdir(join(rootDir, 'dev'));
    await mkdir(join(rootDir, 'sys'));
    await mkdir(join(rootDir, 'etc'));
    await writeFile(join(rootDir, 'etc/hosts'), '');
    await writeFile(join(rootDir, 'etc/resolv.conf'), '');
    await writeFile(
      join(bundle, 'stubs.json'),
      JSON.stringify({
        created: [
          { path: 'proc', kind: 'dir' },
          { path: 'dev', kind: 'dir' },
          { path: 'sys', kind: 'dir' },
          { path: 'etc', kind: 'dir' },
          { path: 'etc/hosts', kind: 'file' },
          { path: 'etc/resolv.conf', kind: 'file' },
        ],
        parents: [],
      }),
    );
    expect(await startDetachedContainer(stateDir, id, rootDir, ['/bin/sleep', '100'])).toBe(0);
    expect(execFileSync('runc', ['--root', join(stateDir, 'runc'), 'list', '-q'], { encoding: 'utf8' })).toContain(id);

    await cleanupStaleContainers(stateDir);

    await assertNoLeftovers();
    expect(await readdir(upper)).toEqual([]);
  });

  it('leaves containers of live builds alone', async () => {
    const id = `tsb-${process.pid}-livebuild`;
    const bundle = join(stateDir, 'bundles', id);
    await mkdir(bundle, { recursive: true });
    await cleanupStaleContainers(stateDir);
    expect(existsSync(bundle)).toBe(true);
    await rm(bundle, { recursive: true });
  });
});

describe('overhead', () => {
  it('measures mount + runc + teardown for `true`', async () => {
    const times: number[] = [];
    for (let i = 0; i < 15; i++) {
      const { mounts } = await overlay();
      const t = performance.now();
      const r = await exec.run(mounts, { args: ['/bin/true'], env: [], cwd: '/', user: '' });
      times.push(performance.now() - t);
      expect(r.exitCode).toBe(0);
    }
    times.sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)] as number;
    console.log(`runc step overhead: median ${median.toFixed(1)} ms, min ${times[0]?.toFixed(1)} ms, max ${times.at(-1)?.toFixed(1)} ms`);
    await assertNoLeftovers();
  });
});

