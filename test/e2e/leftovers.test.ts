/**
 * What a SIGKILLed build leaves outside its committed data is removed by the next build: the temp dir
 * next to an `-o type=local` destination (found through its lease in state/leases), a secret dir in
 * /dev/shm, temp files of snapshot metadata, context copies made for RUN --mount, the private ssh-agent
 * dir in $TMPDIR and a cache mount dir still being seeded.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suiteSandbox } from './harness.js';

const sb = suiteSandbox();

function project(name: string, dockerfile: string, files: Record<string, string> = {}): string {
  const dir = join(sb.dir, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'Dockerfile'), dockerfile);
  for (const [f, c] of Object.entries(files)) writeFileSync(join(dir, f), c);
  return dir;
}

/** Start a build, wait until `ready()` holds (polled), SIGKILL it, and return its pid. */
async function killWhen(args: string[], ready: (pid: number) => boolean): Promise<number> {
  const child = sb.spawn(['build', '--progress', 'plain', ...args]);
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise<void>((res) => child.on('exit', () => res()));
  await new Promise<void>((res, rej) => {
    const timer = setInterval(() => {
      if (ready(child.pid!)) {
        clearInterval(timer);
        child.kill('SIGKILL');
        res();
      }
    }, 2);
    child.on('exit', () => {
      clearInterval(timer);
      rej(new Error(`build ended before it could be killed:\n${err}`));
    });
  });
  await exited;
  return child.pid!;
}

const leases = () => (existsSync(join(sb.root, 'state/leases')) ? readdirSync(join(sb.root, 'state/leases')) : []);

describe('leftovers of a SIGKILLed build', () => {
  it('the temp dir next to an -o type=local destination (leased) is removed by the next build', async () => {
    // A rootfs big enough that the export's copy is still running when the temp dir shows up.
    const ctx = project('big', 'FROM busybox\nRUN for i in 1 2 3 4 5 6 7 8; do head -c 50000000 /dev/zero > /big$i; done\n');
    await sb.build([ctx]);
    const outParent = join(sb.dir, 'outs');
    mkdirSync(outParent);
    const temps = () => readdirSync(outParent).filter((f) => f.startsWith('.rootfs.tmp-'));
    const pid = await killWhen(['-o', `type=local,dest=${join(outParent, 'rootfs')}`, ctx], () => temps().length > 0);
    expect(temps()[0]).toMatch(new RegExp(`^\\.rootfs\\.tmp-${pid}-`));
    expect(leases().some((l) => l.startsWith(`${pid}-`))).toBe(true);
    // A dead writer's snapshot-metadata temp file, as a kill inside writeMetaExclusive leaves it.
    const meta = join(sb.root, 'snapshots/meta');
    writeFileSync(join(meta, `.killed.json.tmp-${pid}-0a1b2c`), '{');

    await sb.build([project('next', 'FROM busybox\nRUN true\n')]);
    expect(temps()).toEqual([]);
    expect(leases()).toEqual([]);
    expect(readdirSync(meta).filter((f) => f.includes('.tmp-'))).toEqual([]);
    expect(existsSync(join(outParent, 'rootfs'))).toBe(false);
  });

  it('the secret dir in /dev/shm and the context copy of a killed RUN --mount step are removed by the next build', async () => {
    const ctx = project('secret', 'FROM busybox\nRUN --mount=type=secret,id=s --mount=type=bind,source=dir,target=/d echo started-step && sleep 60\n', { 's.txt': 'value\n' });
    mkdirSync(join(ctx, 'dir'));
    writeFileSync(join(ctx, 'dir', 'f'), 'x');
    const shm = () => readdirSync('/dev/shm').filter((f) => f.startsWith('tsbuild-secrets-'));
    const mounts = join(sb.root, 'state/mounts');
    const copies = () => (existsSync(mounts) ? readdirSync(mounts).filter((f) => f.startsWith('ctx-')) : []);
    const before = shm();
    // The secret dirs as the kill found them: once the build is dead, any other build on this machine (a test
    // file running beside this one) may remove them (cleanupStaleSecretDirs is machine-wide, as it must be).
    let mine: string[] = [];
    const pid = await killWhen(['--secret', `id=s,src=${join(ctx, 's.txt')}`, ctx], (p) => (mine = shm().filter((f) => f.startsWith(`tsbuild-secrets-tsb-${p}-`))).length > 0);
    expect(mine.length).toBeGreaterThan(0);
    expect(copies().some((f) => f.startsWith(`ctx-${pid}-`))).toBe(true);

    await sb.build([project('next2', 'FROM busybox\nRUN true\n')]);
    expect(shm().filter((f) => f.startsWith(`tsbuild-secrets-tsb-${pid}-`))).toEqual([]);
    expect(copies()).toEqual([]);
    expect(shm().filter((f) => !before.includes(f))).toEqual([]);
  });

  it('the private ssh-agent dir (--ssh with a key file) and a cache mount dir still being seeded are removed by the next build', async () => {
    const keyDir = join(sb.dir, 'sshkey');
    mkdirSync(keyDir);
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(keyDir, 'id')]);
    // Seeding the cache mount copies the big stage's files: still under way when the kill comes.
    const ctx = project(
      'seed',
      'FROM busybox AS big\nRUN for i in 1 2 3 4 5 6; do head -c 50000000 /dev/zero > /big$i; done\n' +
        'FROM busybox\nRUN --mount=type=cache,id=seeded,target=/c,from=big,source=/ ls /c\n',
    );
    await sb.build(['--target', 'big', ctx]);
    const cm = join(sb.root, 'cachemounts');
    const seeding = () => (existsSync(cm) ? readdirSync(cm).flatMap((d) => (existsSync(join(cm, d)) ? readdirSync(join(cm, d)) : []).filter((n) => n.startsWith('.new-'))) : []);
    const sshDirs = (pid: number) => readdirSync(tmpdir()).filter((n) => n.startsWith(`tsbuild-ssh-${pid}-`));
    const pid = await killWhen(['--ssh', `default=${join(keyDir, 'id')}`, ctx], () => seeding().length > 0);
    expect(seeding()[0]).toMatch(new RegExp(`^\\.new-${pid}-`));
    expect(sshDirs(pid)).toHaveLength(1);

    await sb.build([project('next3', 'FROM busybox\nRUN true\n')]);
    expect(sshDirs(pid)).toEqual([]);
    expect(seeding()).toEqual([]);
  });
});
