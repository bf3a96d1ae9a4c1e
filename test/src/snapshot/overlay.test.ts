import { execFileSync, spawn } from 'node:child_process';
import { lstat, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OverlaySnapshotter } from '../../../src/snapshot/overlay.js';
import { withMounts } from '../../../src/snapshot/mount.js';
import { transpileForChild } from '../content/transpile.js';
import { snapshotterConformance } from './conformance.js';

let jsDir: string;
let overlayJs: string;

beforeAll(async () => {
  jsDir = await mkdtemp(join(tmpdir(), 'tsb-snap-js-'));
  overlayJs = await transpileForChild('src/snapshot/overlay.ts', jsDir);
});
afterAll(async () => {
  await rm(jsDir, { recursive: true, force: true });
});

snapshotterConformance({
  name: 'OverlaySnapshotter',
  create: (root) => new OverlaySnapshotter(root),
  spawnDeadPrepare: (root, key, parent) =>
    new Promise((resolve, reject) => {
      const script = `import { OverlaySnapshotter } from ${JSON.stringify(overlayJs)};
await new OverlaySnapshotter(${JSON.stringify(root)}).prepare(${JSON.stringify(key)}, ${JSON.stringify(parent)});`;
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'inherit' });
      child.once('error', reject);
      child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`child exited with ${code}`))));
    }),
});

describe('OverlaySnapshotter specifics', () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'tsb-ovl-'));
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('returns a bind mount without a parent and an overlay with nearest-first lowerdirs', async () => {
    const sn = new OverlaySnapshotter(join(tmp, 's1'));
    const m0 = await sn.prepare('a');
    expect(m0).toEqual([{ type: 'bind', source: await sn.layerDir('a'), options: ['rw', 'rbind'] }]);
    await sn.commit('A', 'a');
    await sn.prepare('b', 'A');
    await sn.commit('B', 'b');
    const m = await sn.prepare('c', 'B');
    expect(m).toHaveLength(1);
    expect(m[0]!.type).toBe('overlay');
    const lower = m[0]!.options.find((o) => o.startsWith('lowerdir='));
    expect(lower).toBe(`lowerdir=${await sn.layerDir('B')}:${await sn.layerDir('A')}`);
    expect(m[0]!.options).toContain(`upperdir=${await sn.layerDir('c')}`);
    expect(await sn.layerDir('c')).toMatch(/\/[0-9a-f]{8}\/fs$/);
  });

  it('a deleted file is a 0/0 char device and a recreated dir is opaque in the layer dir', async () => {
    const sn = new OverlaySnapshotter(join(tmp, 's2'));
    await withMounts(await sn.prepare('a'), await mk(join(tmp, 'm1')), async (d) => {
      await writeFile(join(d, 'gone'), 'x');
      await mkdir(join(d, 'dir'));
      await writeFile(join(d, 'dir', 'old'), 'o');
    });
    await sn.commit('A', 'a');
    await withMounts(await sn.prepare('b', 'A'), await mk(join(tmp, 'm2')), async (d) => {
      await rm(join(d, 'gone'));
      await rm(join(d, 'dir'), { recursive: true });
      await mkdir(join(d, 'dir'));
      await writeFile(join(d, 'dir', 'new'), 'n');
    });
    const layer = await sn.layerDir('b');
    const st = await lstat(join(layer, 'gone'));
    expect(st.isCharacterDevice()).toBe(true);
    expect(st.rdev).toBe(0);
    const xattr = execFileSync('getfattr', ['-h', '--absolute-names', '--only-values', '-n', 'trusted.overlay.opaque', join(layer, 'dir')]).toString();
    expect(xattr).toBe('y');
    await expect(lstat(join(layer, 'dir', 'old'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('refuses lowerdir strings that do not fit in a mount-option page', async () => {
    const sn = new OverlaySnapshotter(join(tmp, 's3', 'x'.repeat(200)));
    let parent: string | undefined;
    let failure: unknown;
    let depth = 0;
    for (; depth < 30 && !failure; depth++) {
      try {
        await sn.prepare(`k${depth}`, parent);
      } catch (err) {
        failure = err;
        break;
      }
      await sn.commit(`n${depth}`, `k${depth}`);
      parent = `n${depth}`;
    }
    expect(failure).toMatchObject({ code: 'MOUNT_OPTIONS_TOO_LONG' });
    // each lowerdir is ~240 bytes here, so the page fills after about 15 layers
    expect(depth).toBeGreaterThan(10);
    expect(depth).toBeLessThan(18);
    // the failed prepare left nothing behind
    expect(await sn.stat(`k${depth}`)).toBeUndefined();
  });
});

async function mk(d: string): Promise<string> {
  await mkdir(d, { recursive: true });
  return d;
}
