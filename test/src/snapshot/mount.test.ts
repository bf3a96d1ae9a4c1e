/**
 * mount.ts with its system call helper (src/proc/helper.ts): real overlay and bind mounts made by the one
 * perl helper process, never by mount(8)/umount(8). `mount` and `umount` shims first on PATH log every run of
 * the util-linux tools (and then run them), so a mount that went through the tools is seen.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mountAll, unmount, withMounts } from '../../../src/snapshot/mount.js';
import { helperSpawns } from '../../../src/proc/helper.js';
import { isMountPoint } from '../../../src/executor/mountpoint.js';
import { SandboxError } from '../../../src/errors.js';
import { toolShims } from '../proc/tool-shims.js';
import { lockFile } from '../../../src/fsutil/flock.js';

let tmp: string;
let log: string;
const savedPath = process.env.PATH;

function tools(): string[] {
  return existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').filter(Boolean) : [];
}

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'tsb-mount-'));
  log = join(tmp, 'tools.log');
  process.env.PATH = `${toolShims(join(tmp, 'bin'), log)}:${savedPath}`;
});
afterAll(() => {
  process.env.PATH = savedPath;
  rmSync(tmp, { recursive: true, force: true });
});

function overlayDirs(name: string): { lower: string; upper: string; work: string; target: string } {
  const d = (n: string) => {
    const p = join(tmp, name, n);
    mkdirSync(p, { recursive: true });
    return p;
  };
  return { lower: d('lower'), upper: d('upper'), work: d('work'), target: d('target') };
}

describe('mount helper', () => {
  it('mounts and unmounts overlays through one helper process, with no mount(8) or umount(8) run', async () => {
    const before = helperSpawns();
    for (let i = 0; i < 3; i++) {
      const o = overlayDirs(`ov${i}`);
      writeFileSync(join(o.lower, 'base.txt'), 'base\n');
      const mounts = [{ type: 'overlay', source: 'overlay', options: ['index=off', 'redirect_dir=off', 'metacopy=off', `lowerdir=${o.lower}`, `upperdir=${o.upper}`, `workdir=${o.work}`] }];
      await withMounts(mounts, o.target, async (root) => {
        expect(await isMountPoint(root)).toBe(true);
        expect(readFileSync(join(root, 'base.txt'), 'utf8')).toBe('base\n');
        writeFileSync(join(root, `new${i}.txt`), 'new\n');
      });
      expect(await isMountPoint(o.target)).toBe(false);
      expect(readFileSync(join(o.upper, `new${i}.txt`), 'utf8')).toBe('new\n'); // written through the overlay into its upper dir
    }
    expect(helperSpawns() - before).toBeLessThanOrEqual(1);
    expect(tools()).toEqual([]);
  });

  it('a read-only bind mount refuses writes; unmounting what is not mounted is not an error', async () => {
    const src = join(tmp, 'bind-src');
    const target = join(tmp, 'bind-target');
    mkdirSync(src, { recursive: true });
    mkdirSync(target, { recursive: true });
    writeFileSync(join(src, 'f'), 'x');
    await mountAll([{ type: 'bind', source: src, options: ['ro', 'rbind'] }], target);
    try {
      expect(readFileSync(join(target, 'f'), 'utf8')).toBe('x');
      expect(() => writeFileSync(join(target, 'g'), 'y')).toThrow(/EROFS/);
    } finally {
      await unmount(target);
    }
    expect(await isMountPoint(target)).toBe(false);
    await unmount(target); // not mounted
    await unmount(join(tmp, 'no-such-dir')); // not there
    expect(tools()).toEqual([]);
  });

  it('mounts, unmounts and locks issued together each get their own answer (unmounts answer from a child, out of order)', async () => {
    const dirs = Array.from({ length: 6 }, (_, i) => overlayDirs(`together${i}`));
    const mounts = (o: ReturnType<typeof overlayDirs>) => [{ type: 'overlay', source: 'overlay', options: [`lowerdir=${o.lower}`, `upperdir=${o.upper}`, `workdir=${o.work}`] }];
    await Promise.all(dirs.map((o) => mountAll(mounts(o), o.target)));
    for (const o of dirs) expect(await isMountPoint(o.target)).toBe(true);
    const locks = dirs.map((o) => join(o.target, '..', 'lock'));
    const [unmounted, locked] = await Promise.all([
      Promise.all(dirs.map((o) => unmount(o.target).then(() => o.target))),
      Promise.all(locks.map((l) => lockFile(l))),
      unmount(join(tmp, 'not-mounted-either')),
    ]);
    expect(unmounted).toEqual(dirs.map((o) => o.target));
    for (const o of dirs) expect(await isMountPoint(o.target)).toBe(false);
    for (const l of locked) await l.release(true);
    expect(tools()).toEqual([]);
  });

  it('a mount the kernel refuses is a MOUNT_FAILED error naming the target', async () => {
    const o = overlayDirs('bad');
    const err = await mountAll([{ type: 'overlay', source: 'overlay', options: [`lowerdir=${join(tmp, 'missing')}`, `upperdir=${o.upper}`, `workdir=${o.work}`] }], o.target).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SandboxError);
    expect((err as SandboxError).code).toBe('MOUNT_FAILED');
    expect((err as Error).message).toContain(o.target);
    expect(await isMountPoint(o.target)).toBe(false);
    expect(tools()).toEqual([]);
  });

  it('an option the helper does not translate goes to mount(8)', async () => {
    const src = join(tmp, 'tool-src');
    const target = join(tmp, 'tool-target');
    mkdirSync(src, { recursive: true });
    mkdirSync(target, { recursive: true });
    await mountAll([{ type: 'tmpfs', source: 'tmpfs', options: ['size=1m', 'relatime'] }], target);
    expect(await isMountPoint(target)).toBe(true);
    await unmount(target);
    expect(await isMountPoint(target)).toBe(false);
    expect(tools().filter((l) => l.startsWith('mount '))).toEqual([`mount -t tmpfs -o size=1m,relatime tmpfs ${target}`]);
  });
});
