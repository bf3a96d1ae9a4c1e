/**
 * The snapshots root carries ext4's top-directory hint (src/snapshot/spread.ts), set once per store by the
 * first build that makes a snapshot there (its snapshotter's beforeFirstDir). Asserted where the filesystem takes the flag (a probe dir on the same filesystem says so: this
 * machine's ext4 does; tmpfs does not, and there only the marker and "never throws" are checked).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spreadSnapshotDirs } from '../../../src/snapshot/spread.js';
import { OverlaySnapshotter } from '../../../src/snapshot/overlay.js';
import { ensureStore, storeLayout } from '../../../src/cli/store-root.js';
import { repo } from '../../e2e/harness.js';

const bin = join(repo, 'bin/tsbuild');

const dir = mkdtempSync(join(tmpdir(), 'tsb-spread-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The flag letters lsattr prints for `path`, or undefined where the filesystem has none. */
const attrs = (path: string) => {
  const r = spawnSync('lsattr', ['-d', path], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.split(/\s+/)[0] : undefined;
};
const probe = join(dir, 'probe');
mkdirSync(probe);
const supported = spawnSync('chattr', ['+T', probe], { stdio: 'ignore' }).status === 0 && attrs(probe)?.includes('T') === true;

/** A snapshotter wired as a build wires it (src/cli/build.ts). */
const snapshotter = (layout: ReturnType<typeof storeLayout>) => new OverlaySnapshotter(layout.snapshots, { beforeFirstDir: () => spreadSnapshotDirs(layout.snapshots, layout.state) });
const marker = (layout: ReturnType<typeof storeLayout>) => join(layout.state, 'snapshots-spread');
const markedFor = (layout: ReturnType<typeof storeLayout>) => existsSync(marker(layout)) && readFileSync(marker(layout), 'utf8') === String(statSync(layout.snapshots).ino);

function build(root: string, dockerfile: string): void {
  const ctx = join(dir, `ctx-${Math.random().toString(36).slice(2)}`);
  mkdirSync(ctx);
  writeFileSync(join(ctx, 'Dockerfile'), dockerfile);
  writeFileSync(join(ctx, 'f.txt'), 'f\n');
  execFileSync(process.execPath, [bin, 'build', '--progress', 'quiet', '--root', root, '-o', `type=local,dest=${ctx}-out`, ctx], { stdio: 'pipe' });
}

describe('spreadSnapshotDirs', () => {
  it('a build that makes a snapshot in a new store marks its snapshots root first (only that dir); one that makes none starts no chattr', () => {
    const none = storeLayout(join(dir, 'store-none'));
    build(none.root, 'FROM scratch\nLABEL only=metadata\n');
    expect(existsSync(marker(none))).toBe(false);
    const layout = storeLayout(join(dir, 'store'));
    build(layout.root, 'FROM scratch\nCOPY f.txt /f.txt\n');
    expect(markedFor(layout)).toBe(true);
    if (supported) expect(attrs(layout.snapshots)).toContain('T');
    // only the snapshots root: the store's other parts keep the allocator's default
    if (supported) expect(attrs(layout.content)).not.toContain('T');
  });

  it('tried once per directory: with its marker there, a store whose flag was cleared keeps it cleared', async () => {
    const layout = storeLayout(join(dir, 'store2'));
    await ensureStore(layout);
    await snapshotter(layout).prepare('a');
    expect(markedFor(layout)).toBe(true);
    if (supported) execFileSync('chattr', ['-T', layout.snapshots]);
    await snapshotter(layout).prepare('b');
    if (supported) expect(attrs(layout.snapshots)).not.toContain('T');
  });

  it('a store copied elsewhere (cp and tar drop the flag) gets it again; the marker names the directory', async () => {
    const layout = storeLayout(join(dir, 'store3'));
    await ensureStore(layout);
    await snapshotter(layout).prepare('a');
    const copy = storeLayout(join(dir, 'store3-copy'));
    execFileSync('cp', ['-r', layout.root, copy.root]);
    if (supported) expect(attrs(copy.snapshots)).not.toContain('T');
    expect(markedFor(copy)).toBe(false);
    await snapshotter(copy).prepare('b');
    expect(markedFor(copy)).toBe(true);
    if (supported) expect(attrs(copy.snapshots)).toContain('T');
  });

  it('never throws or rejects: a directory that does not exist, no state dir to mark', async () => {
    await expect(spreadSnapshotDirs(join(dir, 'missing', 'snapshots'), join(dir, 'missing', 'state'))).resolves.toBeUndefined();
    mkdirSync(join(dir, 'nostate', 'snapshots'), { recursive: true });
    await expect(spreadSnapshotDirs(join(dir, 'nostate', 'snapshots'), join(dir, 'nostate', 'state'))).resolves.toBeUndefined();
  });
});
