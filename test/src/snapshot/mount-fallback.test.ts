/**
 * mount.ts without its helper: when perl cannot be started (not on PATH here), every mount and unmount goes
 * through mount(8)/umount(8) and works as before. Own file: the helper's state is per process (per module).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { withMounts } from '../../../src/snapshot/mount.js';
import { isMountPoint } from '../../../src/executor/mountpoint.js';
import { toolShims } from '../proc/tool-shims.js';

let tmp: string;
let log: string;
const savedPath = process.env.PATH;

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'tsb-mountfb-'));
  log = join(tmp, 'tools.log');
  process.env.PATH = toolShims(join(tmp, 'bin'), log); // only the shims: no perl
});
afterAll(() => {
  process.env.PATH = savedPath;
  rmSync(tmp, { recursive: true, force: true });
});

it('without perl, overlays are mounted and unmounted by mount(8)/umount(8)', async () => {
  for (let i = 0; i < 2; i++) {
    const d = (n: string) => {
      const p = join(tmp, `ov${i}`, n);
      mkdirSync(p, { recursive: true });
      return p;
    };
    const [lower, upper, work, target] = [d('lower'), d('upper'), d('work'), d('target')];
    writeFileSync(join(lower, 'base.txt'), 'base\n');
    await withMounts([{ type: 'overlay', source: 'overlay', options: [`lowerdir=${lower}`, `upperdir=${upper}`, `workdir=${work}`] }], target, async (root) => {
      expect(readFileSync(join(root, 'base.txt'), 'utf8')).toBe('base\n');
      writeFileSync(join(root, 'new.txt'), 'new\n');
    });
    expect(await isMountPoint(target)).toBe(false);
    expect(existsSync(join(upper, 'new.txt'))).toBe(true);
  }
  const runs = readFileSync(log, 'utf8').trim().split('\n');
  expect(runs.filter((l) => l.startsWith('mount -t overlay'))).toHaveLength(2);
  expect(runs.filter((l) => l.startsWith('umount '))).toHaveLength(2);
});
