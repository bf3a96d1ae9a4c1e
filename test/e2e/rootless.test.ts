/**
 * Rootless: an ordinary user (a throwaway account made here with useradd; /etc/subuid and /etc/subgid
 * ranges are added by useradd or usermod) builds with no root: tsbuild re-executes itself in a user
 * namespace, overlayfs runs with userxattr, runc rootless, and the store is under $XDG_DATA_HOME.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repo } from './harness.js';
import { ensureEmulation } from '../../src/executor/emulation.js';

const user = `tsbrl${process.pid % 100000}`;
let home = '';
let ready = false;

function asUser(script: string): { code: number; out: string } {
  const r = spawnSync('su', ['-l', user, '-s', '/bin/bash', '-c', script], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
  return { code: r.status ?? -1, out: (r.stdout ?? '') + (r.stderr ?? '') };
}

beforeAll(() => {
  if (process.getuid?.() !== 0) return;
  execFileSync('useradd', ['-m', '-s', '/bin/bash', user]);
  home = execFileSync('sh', ['-c', `getent passwd ${user} | cut -d: -f6`], { encoding: 'utf8' }).trim();
  const has = (f: string) => readFileSync(f, 'utf8').split('\n').some((l) => l.startsWith(user + ':'));
  if (!has('/etc/subuid') || !has('/etc/subgid')) {
    execFileSync('usermod', ['--add-subuids', '300000-365535', '--add-subgids', '300000-365535', user]);
  }
  const r = asUser(`bash ${join(repo, 'scripts/make-base-image.sh')}`);
  if (r.code !== 0) throw new Error(`rootless make-base-image failed:\n${r.out}`);
  ready = true;
}, 120_000);

afterAll(() => {
  if (process.getuid?.() !== 0) return;
  spawnSync('userdel', ['-r', user], { stdio: 'ignore' });
});

describe('rootless build', () => {
  it('builds as an ordinary user: user namespace with subordinate ids, whiteouts, opaque dirs, ownership, secrets, cache mounts', () => {
    expect(ready).toBe(true);
    const ctx = join(home, 'ctx');
    const dockerfile = [
      'FROM busybox',
      'RUN --mount=type=cache,target=/c echo run >> /c/log && wc -l < /c/log && cat /proc/self/uid_map',
      'RUN --mount=type=secret,id=s tr a-z A-Z < /run/secrets/s; echo app:x:1234:1234::/home/app:/bin/sh >> /etc/passwd; echo app:x:1234: >> /etc/group; mkdir /data && chown app:app /data && rm -rf /tmp && rm -rf /usr && mkdir /usr && touch /usr/new',
      'USER app',
      'RUN id; echo HOME=$HOME; touch /data/f',
      '',
    ].join('\\n');
    const r = asUser(
      `set -e; mkdir -p ${ctx}; printf 'rootless-secret' > ${home}/s.txt; printf '${dockerfile}' > ${ctx}/Dockerfile; ` +
        `${join(repo, 'bin/tsbuild')} build --progress plain --secret id=s,src=${home}/s.txt -t rl:1 -o type=oci,dest=${home}/rl.tar ${ctx}`,
    );
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/ 0\s+\d+\s+1\n/); // uid 0 inside is the user outside
    expect(r.out).toMatch(/ 1\s+\d{5,}\s+65535\n/); // 1..65535 are the subordinate ids
    expect(r.out).toContain('ROOTLESS-SECRET');
    expect(r.out).toContain('uid=1234(app) gid=1234(app)');
    expect(r.out).toContain('HOME=/home/app');
    // The store is the user's own, under $XDG_DATA_HOME (default ~/.local/share).
    expect(existsSync(join(home, '.local/share/tsbuild/cachemounts'))).toBe(true);
    expect(existsSync('/var/lib/tsbuild/cachemounts') && readFileSync('/proc/self/mounts', 'utf8').includes(home)).toBe(false);
    // Layers: a whiteout, an opaque dir (user.overlay.opaque), and ids as seen inside.
    const listing = execFileSync('sh', ['-c', `d=$(mktemp -d) && tar -xf ${home}/rl.tar -C $d && for l in $d/blobs/sha256/*; do tar -tvzf $l 2>/dev/null || true; done; rm -rf $d`], { encoding: 'utf8' });
    expect(listing).toMatch(/0\/0 .* \.wh\.tmp\n/);
    expect(listing).toMatch(/usr\/\.wh\.\.wh\.\.opq\n/);
    expect(listing).toMatch(/1234\/1234 .* data\/f\n/);
    expect(listing).not.toContain('rootless-secret');
    // A second build reuses the cache mount.
    const again = asUser(`${join(repo, 'bin/tsbuild')} build --progress plain --no-cache --secret id=s,src=${home}/s.txt ${ctx}`);
    expect(again.code, again.out).toBe(0);
    expect(again.out).toMatch(/#\d+ [\d.]+ 2\n/);
  });

  it('reports clearly what a rootless build cannot do here', () => {
    expect(ready).toBe(true);
    const r = asUser(`${join(repo, 'bin/tsbuild')} build --progress plain --no-cache --memory 64m ${join(home, 'ctx')}`);
    expect(r.code).not.toBe(0);
    expect(r.out).toContain('--memory needs the memory cgroup controller');
  });

  it('emulation: an arm64 RUN runs rootless through the emulator root registered (F flag; only root registers: test/src/executor/emulation.test.ts)', async () => {
    expect(ready).toBe(true);
    // Root's part (what scripts/install.sh + one root build do): qemu-user-static installed, qemu-aarch64 registered.
    execFileSync('bash', [join(repo, 'scripts/ensure-packages.sh'), 'qemu-user-static'], { stdio: 'pipe' });
    await ensureEmulation({ os: 'linux', architecture: 'arm64' });
    const arm64 = execFileSync('bash', [join(repo, 'scripts/ensure-foreign-busybox.sh'), 'arm64'], { encoding: 'utf8' }).trim();
    const ctx = join(home, 'ctx-arm64');
    const r = asUser(
      `set -e; mkdir -p ${ctx}; cp ${arm64} ${ctx}/busybox; printf 'FROM scratch\\nCOPY busybox /bin/busybox\\nRUN ["/bin/busybox", "sh", "-c", "/bin/busybox uname -m > /arch"]\\n' > ${ctx}/Dockerfile; ` +
        `${join(repo, 'bin/tsbuild')} build --progress plain --platform linux/arm64 -o type=local,dest=${home}/arm64-out ${ctx}`,
    );
    expect(r.code, r.out).toBe(0);
    expect(readFileSync(join(home, 'arm64-out/arch'), 'utf8')).toBe('aarch64\n');
  }, 300_000);
});
