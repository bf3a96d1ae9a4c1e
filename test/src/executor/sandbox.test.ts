/** The sandbox's isolation, limits, network modes and extra mounts, with real runc, cgroups and namespaces. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { RuncExecutor } from '../../../src/executor/runc.js';
import { detectCgroupSupport } from '../../../src/executor/cgroup.js';
import { secretBase } from '../../../src/executor/secretdir.js';
import { slirpAvailable } from '../../../src/executor/slirp.js';
import type { Mount } from '../../../src/snapshot/types.js';
import type { ProcessSpec, RunOptions, RunResult } from '../../../src/executor/types.js';
import { closeExecutorFixture, openExecutorFixture, type ExecutorFixture } from './fixture.js';

let fx: ExecutorFixture;
let dir: string;
let lower: string;
let stateDir: string;
let exec: RuncExecutor;

beforeAll(async () => {
  fx = await openExecutorFixture('tsbuild-sandbox-');
  ({ dir, lower, stateDir, exec } = fx);
});

afterAll(() => closeExecutorFixture(fx));

const overlay = (lowerDir?: string) => fx.overlay(lowerDir);

interface Captured extends RunResult {
  stdout: string;
  stderr: string;
  upper: string;
}

async function sh(script: string, opts: RunOptions = {}, p: Partial<ProcessSpec> = {}): Promise<Captured> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const { mounts, upper } = await overlay();
  const r = await exec.run(
    mounts,
    { args: ['/bin/sh', '-c', script], env: [], cwd: '/', user: '', ...p },
    { ...opts, onStdout: (c) => out.push(c), onStderr: (c) => err.push(c) },
  );
  return { ...r, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), upper };
}

async function assertNoLeftovers(): Promise<void> {
  const listed = execFileSync('runc', ['--root', join(stateDir, 'runc'), 'list', '-q'], { encoding: 'utf8' }).trim();
  expect(listed).toBe('');
  expect(await readFile('/proc/self/mountinfo', 'utf8')).not.toContain(stateDir);
  expect(await readdir(join(stateDir, 'bundles')).catch(() => [])).toEqual([]);
  expect((await readdir(await secretBase())).filter((f) => f.startsWith(`tsbuild-secrets-tsb-${process.pid}-`))).toEqual([]);
}

describe('isolation', () => {
  it('PID 1 is the step itself and no host process is visible', async () => {
    const r = await sh('echo $$; ls /proc | grep -c "^[0-9]*$"');
    const [pid, count] = r.stdout.trim().split('\n');
    expect(pid).toBe('1');
    // sh, ls, grep (and nothing of the host, which has many more).
    expect(Number(count)).toBeLessThanOrEqual(4);
  });

  it('cannot reach the host filesystem: a host path is absent inside, writing it lands in the rootfs', async () => {
    const host = join(dir, 'host-only');
    await writeFile(host, 'host\n');
    const r = await sh(`test -e ${host} && echo visible; mkdir -p ${dir} && echo step > ${host}; cd / && cd .. && ls / | grep -c bin`);
    expect(r.stdout).not.toContain('visible');
    expect(await readFile(host, 'utf8')).toBe('host\n');
    expect(await readFile(join(r.upper, host), 'utf8')).toBe('step\n');
  });

  it('mounting is denied, and so are new namespaces (capabilities + seccomp)', async () => {
    const r = await sh('mount -t tmpfs tmpfs /mnt 2>&1 && echo MOUNTED; unshare -m true 2>&1 && echo UNSHARED; grep Seccomp: /proc/self/status');
    expect(r.stdout).not.toContain('MOUNTED');
    expect(r.stdout).not.toContain('UNSHARED');
    expect(r.stdout).toMatch(/Seccomp:\s+2/);
  });

  it('/proc/sys is read-only and /proc/kcore is masked', async () => {
    const r = await sh('echo 1 > /proc/sys/vm/drop_caches 2>/dev/null || echo DENIED; cat /proc/kcore | wc -c; grep " /proc/sys " /proc/self/mountinfo');
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe('DENIED');
    expect(lines[1]).toBe('0');
    expect(lines[2]).toMatch(/ \/proc\/sys ro,/);
  });

  it('has a minimal /dev and a /dev/shm tmpfs of the requested size', async () => {
    const r = await sh('ls /dev | sort | tr "\\n" " "; df -k /dev/shm | tail -1', { limits: { shmSizeBytes: 8 * 1024 * 1024 } });
    for (const d of ['null', 'zero', 'random', 'urandom', 'tty', 'full', 'shm', 'pts']) expect(r.stdout).toContain(d);
    expect(r.stdout).not.toMatch(/\bsda\b|\bmem\b|\bkmsg\b/);
    expect(r.stdout).toMatch(/\s8192\s/);
  });
});

describe('limits', () => {
  it('a fork bomb under a pids limit ends, is reported, and leaves nothing behind', async () => {
    const cg = await detectCgroupSupport();
    if (!cg.pids) return;
    const t = Date.now();
    const r = await sh('bomb() { bomb | bomb & }; bomb; sleep 2; exit 3', { limits: { pidsLimit: 32 } });
    expect(Date.now() - t).toBeLessThan(30_000);
    expect(r.pidsLimitHit).toEqual({ limit: 32 });
    await assertNoLeftovers();
  });

  it('a 200 MB allocation under a 64 MiB memory limit is OOM-killed and reported', async () => {
    const cg = await detectCgroupSupport();
    if (!cg.memory) return;
    const r = await sh('dd if=/dev/zero of=/dev/null bs=200M count=1', { limits: { memoryBytes: 64 * 1024 * 1024 } });
    expect(r.exitCode).not.toBe(0);
    expect(r.oomKilled).toEqual({ limitBytes: 64 * 1024 * 1024 });
    const ok = await sh('dd if=/dev/zero of=/dev/null bs=1M count=1', { limits: { memoryBytes: 64 * 1024 * 1024 } });
    expect(ok.exitCode).toBe(0);
    expect(ok.oomKilled).toBeUndefined();
    await assertNoLeftovers();
  });

  it('applies a cpu quota and ulimits', async () => {
    const cg = await detectCgroupSupport();
    let quota = '';
    let seen = '';
    const { mounts } = await overlay();
    await exec.run(
      mounts,
      { args: ['/bin/sh', '-c', 'ulimit -n; ulimit -Hn; cat /proc/self/cgroup; sleep 0.3'], env: [], cwd: '/', user: '' },
      {
        limits: { ulimits: [{ type: 'RLIMIT_NOFILE', soft: 512, hard: 1024 }], ...(cg.cpu ? { cpuQuota: 50000 } : {}) },
        onStdout: (c) => {
          seen += c.toString();
          const path = cg.version === 1 ? /:cpu(?:,cpuacct)?:(\S+)/.exec(seen)?.[1] : /^0::(\S+)/m.exec(seen)?.[1];
          if (path && !quota) {
            const file = cg.version === 1 ? join('/sys/fs/cgroup/cpu', path, 'cpu.cfs_quota_us') : join('/sys/fs/cgroup', path, 'cpu.max');
            quota = execFileSync('cat', [file], { encoding: 'utf8' }).trim().split(' ')[0]!;
          }
        },
      },
    );
    expect(seen.split('\n').slice(0, 2)).toEqual(['512', '1024']);
    if (cg.cpu) expect(quota).toBe('50000');
  });

  it('places the step under --cgroup-parent', async () => {
    const cg = await detectCgroupSupport();
    if (!cg.pids || cg.version !== 1) return;
    const parent = `tsbuild-test-parent-${process.pid}`;
    const r = await sh('cat /proc/self/cgroup', { limits: { cgroupParent: '/' + parent } });
    expect(r.stdout).toMatch(new RegExp(`:pids:/${parent}/tsbuild-tsb-`));
    for (const c of ['pids', 'memory', 'cpu', 'cpuacct', 'cpuset', 'blkio', 'devices', 'freezer', 'systemd', 'unified']) {
      spawnSync('rmdir', [join('/sys/fs/cgroup', c, parent)]);
    }
  });
});

describe('network', () => {
  let server: Server;
  let port = 0;
  beforeAll(async () => {
    server = createServer((s) => s.end('hello\n'));
    await new Promise<void>((r) => server.listen(0, '0.0.0.0', () => r()));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('none: only loopback', async () => {
    const r = await sh('cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d " "; cat /etc/resolv.conf', { network: 'none' });
    expect(r.stdout.trim()).toBe('lo');
  });

  it('host: the host loopback services are reachable', async () => {
    const r = await sh(`nc 127.0.0.1 ${port} </dev/null`, { network: 'host' });
    expect(r.stdout).toBe('hello\n');
  });

  it('sandbox (the default with slirp4netns): own namespace with outbound access, host loopback unreachable', async () => {
    if (!(await slirpAvailable())) return;
    const hostIp = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
    const r = await sh(
      `cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d " " | sort | tr "\\n" " "; echo; nc -w 2 127.0.0.1 ${port} </dev/null || echo NO-LOOPBACK; ${hostIp ? `nc -w 5 ${hostIp} ${port} </dev/null` : 'echo hello'}; cat /etc/resolv.conf`,
      {},
    );
    const lines = r.stdout.split('\n');
    expect(lines[0]!.trim()).toBe('lo tap0');
    expect(r.stdout).toContain('NO-LOOPBACK');
    expect(r.stdout).toContain('hello');
    expect(r.stdout).toContain('nameserver 10.0.2.3');
  });
});

describe('extra mounts', () => {
  it('bind (ro and rw), tmpfs and secret mounts; their mount points never land in the layer', async () => {
    const src = join(dir, 'bind-src');
    await mkdir(src, { recursive: true });
    await writeFile(join(src, 'f'), 'from host\n');
    const r = await sh(
      'cat /ro/f; echo x > /ro/g 2>/dev/null || echo RO; echo rw > /rw/new; df /tmpd | tail -1 | cut -c1-5; stat -c "%a %u" /run/secrets/tok; cat /run/secrets/tok; echo; echo $TOKENV',
      {
        mounts: [
          { type: 'bind', source: src, destination: '/ro', readonly: true },
          { type: 'bind', source: src, destination: '/rw', readonly: false },
          { type: 'tmpfs', destination: '/tmpd', sizeBytes: 1024 * 1024 },
          { type: 'secret', destination: '/run/secrets/tok', data: Buffer.from('s3cr3t-file'), mode: 0o400, uid: 0, gid: 0 },
        ],
        secretEnv: ['TOKENV=s3cr3t-env'],
      },
    );
    expect(r.stdout.split('\n')).toEqual(['from host', 'RO', 'tmpfs', '400 0', 's3cr3t-file', 's3cr3t-env', '']);
    expect(await readFile(join(src, 'new'), 'utf8')).toBe('rw\n');
    // Mount points (ro, rw, tmpd, run/secrets/tok) were stubs: nothing of them is in the upper dir.
    expect(await readdir(r.upper)).toEqual([]);
    expect(existsSync(join(r.upper, 'run'))).toBe(false);
    await assertNoLeftovers();
  });
});
