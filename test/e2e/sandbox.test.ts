/**
 * RUN in the sandbox, end to end through the CLI: --mount (cache, secret, bind, tmpfs, ssh), network
 * modes, resource limits, and interruption leaving nothing behind.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { suiteSandbox, umociUnpack, listTree } from './harness.js';

const sb = suiteSandbox();

function project(name: string, dockerfile: string, files: Record<string, string> = {}): string {
  const dir = join(sb.dir, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'Dockerfile'), dockerfile);
  for (const [f, c] of Object.entries(files)) writeFileSync(join(dir, f), c);
  return dir;
}

/** Every file under `dir` whose bytes (gunzipped too, when gzip) contain `needle`. */
function filesContaining(dir: string, needle: string): string[] {
  const found: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        const buf = readFileSync(p);
        if (buf.includes(needle)) found.push(p);
        else if (buf[0] === 0x1f && buf[1] === 0x8b) {
          try {
            if (gunzipSync(buf).includes(needle)) found.push(p + ' (gunzipped)');
          } catch {
            // not gzip after all
          }
        }
      }
    }
  };
  walk(dir);
  return found;
}

describe('RUN --mount=type=cache', () => {
  it('persists across builds in the store, is absent from the image, and prune --all drops it', async () => {
    const ctx = project(
      'cache',
      'FROM busybox\nARG N\nRUN --mount=type=cache,target=/var/cache/app,id=e2e-cache echo "run $N" >> /var/cache/app/log && cat /var/cache/app/log\n',
    );
    const first = await sb.build(['--build-arg', 'N=1', ctx]);
    expect(first.stderr).toContain('run 1');
    const tar = join(sb.dir, 'cache.tar');
    const second = await sb.build(['--build-arg', 'N=2', '-o', `type=oci,dest=${tar}`, '-t', 'cache:1', ctx]);
    expect(second.stderr).toMatch(/run 1\n.*run 2/);
    const rootfs = umociUnpack(sb, tar, '1');
    expect(existsSync(join(rootfs, 'var/cache'))).toBe(false);
    expect(listTree(rootfs).some((p) => p.includes('var/cache'))).toBe(false);
    // The cache lives under <store>/cachemounts.
    expect(filesContaining(join(sb.root, 'cachemounts'), 'run 2').length).toBe(1);
    // `tsbuild prune --all` drops it.
    expect((await sb.tsbuild(['prune', '--all'])).code).toBe(0);
    expect(existsSync(join(sb.root, 'cachemounts'))).toBe(false);
    const third = await sb.build(['--build-arg', 'N=3', ctx]);
    expect(third.stderr).not.toContain('run 1');
    expect(third.stderr).toContain('run 3');
  });
});

describe('RUN --mount=type=secret', () => {
  it('gives the value as a file and an env var to that step only; the value is nowhere in the store, the tars or the logs', async () => {
    const value = 'zq9-tsbuild-secret-' + Math.random().toString(36).slice(2);
    const envValue = 'zq9-env-secret-' + Math.random().toString(36).slice(2);
    const secretFile = join(sb.dir, 'secret.txt');
    writeFileSync(secretFile, value);
    const ctx = project(
      'secret',
      [
        'FROM busybox',
        'RUN --mount=type=secret,id=tok --mount=type=secret,id=api,env=API_TOKEN,required=true sh -c \'tr a-z A-Z < /run/secrets/tok; echo; echo "$API_TOKEN" | tr a-z A-Z; stat -c %a /run/secrets/tok\'',
        'RUN --mount=type=secret,id=tok,target=/etc/app.key,mode=0440,uid=1 stat -c "%a %u" /etc/app.key && tr a-z A-Z < /etc/app.key',
        'RUN ls /run/secrets 2>&1; echo "env:$API_TOKEN"',
        '',
      ].join('\n'),
    );
    const tar = join(sb.dir, 'secret.tar');
    const meta = join(sb.dir, 'secret-meta.json');
    const out = await sb.build(
      ['--secret', `id=tok,src=${secretFile}`, '--secret', 'id=api,env=MY_API', '-t', 'secret:1', '-o', `type=oci,dest=${tar}`, '--metadata-file', meta, ctx],
      { env: { MY_API: envValue } },
    );
    expect(out.stderr).toContain(value.toUpperCase());
    expect(out.stderr).toContain(envValue.toUpperCase());
    expect(out.stderr).toMatch(/\b400\b/);
    expect(out.stderr).toContain('440 1');
    expect(out.stderr).toContain('ls: /run/secrets: No such file or directory');
    expect(out.stderr).toContain('env:\n');
    const def = await sb.tsbuild(['build', '--print-definition', ctx]);
    const runs = sb.runcRuns();
    const explained = await sb.build(['--secret', `id=tok,src=${secretFile}`, '--secret', 'id=api,env=MY_API', ctx], { env: { MY_API: envValue } });
    expect(sb.runcRuns()).toBe(runs);
    const unpackDir = join(sb.dir, 'secret-unpacked');
    mkdirSync(unpackDir);
    execFileSync('tar', ['-xf', tar, '-C', unpackDir]);
    for (const needle of [value, envValue]) {
      expect(filesContaining(sb.root, needle)).toEqual([]);
      expect(filesContaining(unpackDir, needle)).toEqual([]);
      expect(readFileSync(tar).includes(needle)).toBe(false);
      expect(out.stdout + out.stderr + def.stdout + def.stderr + explained.stdout + explained.stderr).not.toContain(needle);
      expect(existsSync(meta) ? readFileSync(meta, 'utf8') : '').not.toContain(needle);
      expect(filesContaining('/dev/shm', needle)).toEqual([]);
    }
  });

  it('a missing required secret fails the step clearly; a missing optional one is skipped', async () => {
    const ctx = project('secret-missing', 'FROM busybox\nRUN --mount=type=secret,id=nope,required ls /run/secrets\n');
    const r = await sb.tsbuild(['build', '--progress', 'plain', ctx]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('secret nope not found');
    const opt = project('secret-optional', 'FROM busybox\nRUN --mount=type=secret,id=nope test ! -e /run/secrets/nope && echo SKIPPED\n');
    expect((await sb.build([opt])).stderr).toContain('SKIPPED');
  });
});

describe('RUN --mount=type=bind and tmpfs', () => {
  it('binds a stage or the context read-only (rw changes discarded), tmpfs with a size', async () => {
    const ctx = project(
      'bind',
      [
        'FROM busybox AS src',
        'RUN mkdir /out && echo from-stage > /out/s.txt',
        'FROM busybox',
        'RUN --mount=type=bind,from=src,source=/out,target=/m cat /m/s.txt',
        'RUN --mount=type=bind,target=/ctx sh -c "cat /ctx/data.txt; ls /ctx; touch /ctx/new 2>/dev/null || echo READONLY"',
        'RUN --mount=type=bind,target=/ctx,rw sh -c "echo x > /ctx/new && echo WROTE"',
        'RUN --mount=type=tmpfs,target=/scratch,size=2m sh -c "df -k /scratch | tail -1; echo t > /scratch/f"',
        'RUN ls /m /ctx /scratch 2>&1 | grep -c "No such file"',
        '',
      ].join('\n'),
      { 'data.txt': 'ctx-data\n', 'ignored.txt': 'must not be visible\n', '.dockerignore': 'ignored.txt\n' },
    );
    const out = await sb.build([ctx]);
    expect(out.stderr).toContain('from-stage');
    expect(out.stderr).toContain('ctx-data');
    expect(out.stderr).not.toContain('ignored.txt');
    expect(out.stderr).toContain('READONLY');
    expect(out.stderr).toContain('WROTE');
    expect(out.stderr).toMatch(/tmpfs\s+2048\s/);
    expect(out.stderr).toMatch(/#\d+ [\d.]+ 3\n/);
    expect(existsSync(join(ctx, 'new'))).toBe(false);
  });

  it('a changed file in a bound context dir invalidates the step; an unrelated one does not', async () => {
    const ctx = project('bind-key', 'FROM busybox\nRUN --mount=type=bind,source=src,target=/src cat /src/a\n', {});
    mkdirSync(join(ctx, 'src'));
    writeFileSync(join(ctx, 'src/a'), 'one\n');
    await sb.build([ctx]);
    const runs = sb.runcRuns();
    writeFileSync(join(ctx, 'other'), 'x');
    await sb.build([ctx]);
    expect(sb.runcRuns()).toBe(runs);
    writeFileSync(join(ctx, 'src/a'), 'two\n');
    const r = await sb.build([ctx]);
    expect(sb.runcRuns()).toBe(runs + 1);
    expect(r.stderr).toContain('two');
  });
});

describe('RUN --mount=type=ssh', () => {
  it('forwards an agent socket given with --ssh (and a key file via a private ssh-agent)', async () => {
    const key = join(sb.dir, 'id_ed25519');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
    const ctx = project('ssh', 'FROM busybox\nRUN --mount=type=ssh,uid=1,mode=0600 sh -c \'test -S "$SSH_AUTH_SOCK" && echo "SOCK $SSH_AUTH_SOCK" && stat -c "%a %u" "$SSH_AUTH_SOCK"\'\n');
    const out = await sb.build(['--ssh', `default=${key}`, ctx]);
    expect(out.stderr).toContain('SOCK /run/buildkit/ssh_agent.0');
    expect(out.stderr).toContain('600 1');
    const missing = await sb.tsbuild(['build', '--progress', 'plain', '--no-cache', project('ssh-req', 'FROM busybox\nRUN --mount=type=ssh,required=true true\n')]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('no SSH agent or key was given for ssh id default');
  });
});

describe('network', () => {
  it('RUN --network=none sees only lo; --network none for the build applies to every step', async () => {
    const ctx = project('net', 'FROM busybox\nRUN --network=none cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d " "\n');
    const out = await sb.build([ctx]);
    expect(out.stderr).toMatch(/#\d+ [\d.]+ lo\n#\d+ DONE/);
    const all = project('net-build', 'FROM busybox\nRUN cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d " " | tr "\\n" ,\n');
    expect((await sb.build(['--network', 'none', all])).stderr).toMatch(/ lo,\n/);
  });
});

describe('limits', () => {
  it('--memory 64m with a 200 MB allocation reports out of memory', async () => {
    const ctx = project('oom', 'FROM busybox\nRUN dd if=/dev/zero of=/dev/null bs=200M count=1\n');
    const r = await sb.tsbuild(['build', '--progress', 'plain', '--memory', '64m', ctx]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('out of memory (limit 64MiB)');
    expect(sb.storeLeftovers()).toEqual([]);
  });

  it('a fork bomb under --pids-limit ends with a clear error', async () => {
    const ctx = project('bomb', 'FROM busybox\nRUN bomb() { bomb | bomb & }; bomb; sleep 2; exit 1\n');
    const t = Date.now();
    const r = await sb.tsbuild(['build', '--progress', 'plain', '--pids-limit', '40', ctx]);
    expect(Date.now() - t).toBeLessThan(60_000);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('the pids limit of 40 processes was reached');
  });

  it('rejects bad limit flags', async () => {
    for (const [flag, msg] of [
      [['--memory', 'lots'], 'invalid --memory'],
      [['--cpus=-1'], 'invalid --cpus'],
      [['--ulimit', 'nofile=10:5'], 'soft limit is above'],
      [['--network', 'bridge'], 'invalid --network'],
      [['--secret', 'src=x'], 'id=NAME is required'],
    ] as const) {
      const r = await sb.tsbuild(['build', ...flag, sb.dir]);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(msg);
    }
  });
});

/** Direct children (by ppid) of `pid`, recursively. */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(d)]);
    } catch {
      // gone
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

function alive(pid: number): boolean {
  try {
    return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function stepCgroups(pid: number): string[] {
  const found: string[] = [];
  const walk = (d: string, depth: number) => {
    if (depth > 4) return;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      if (e.name.startsWith(`tsbuild-tsb-${pid}-`)) found.push(join(d, e.name));
      else walk(join(d, e.name), depth + 1);
    }
  };
  if (existsSync('/sys/fs/cgroup')) walk('/sys/fs/cgroup', 0);
  return found;
}

describe('interruption', () => {
  it('Ctrl-C during a long RUN leaves no process, mount, cgroup, runc state or secret behind', async () => {
    const secretFile = join(sb.dir, 'int-secret');
    writeFileSync(secretFile, 'int-secret-value');
    const ctx = project('interrupt', 'FROM busybox\nRUN --mount=type=secret,id=s --mount=type=cache,target=/c echo started; sleep 4242\n');
    const child = sb.spawn(['build', '--progress', 'plain', '--secret', `id=s,src=${secretFile}`, ctx]);
    let err = '';
    await new Promise<void>((res, rej) => {
      const t = setTimeout(() => rej(new Error('the step did not start: ' + err)), 30_000);
      child.stderr.on('data', (d) => {
        err += d;
        if (/#\d+ [\d.]+ started/.test(err)) {
          clearTimeout(t);
          res();
        }
      });
    });
    const procs = descendants(child.pid!);
    expect(procs.length).toBeGreaterThan(0);
    expect(stepCgroups(child.pid!).length).toBeGreaterThan(0);
    const code = await new Promise<number | null>((res) => {
      child.on('close', (c) => res(c));
      child.kill('SIGINT');
    });
    expect(code).not.toBe(0);
    expect(err).toContain('interrupted');
    expect(procs.filter(alive)).toEqual([]);
    expect(stepCgroups(child.pid!)).toEqual([]);
    expect(readFileSync('/proc/self/mounts', 'utf8')).not.toContain(sb.root);
    expect(execFileSync('runc', ['--root', join(sb.root, 'state/exec/runc'), 'list', '-q']).toString().trim()).toBe('');
    expect(readdirSync('/dev/shm').filter((f) => f.includes(`tsb-${child.pid}-`))).toEqual([]);
    expect(readdirSync(join(sb.root, 'state/exec/bundles'))).toEqual([]);
    expect(statSync(join(sb.root, 'state')).isDirectory()).toBe(true);
    expect(sb.storeLeftovers()).toEqual([]);
  });
});
