/**
 * The snapshots root carries ext4's top-directory hint (src/snapshot/spread.ts), set once per store by
 * ensureStore. Asserted where the filesystem takes the flag (a probe dir on the same filesystem says so: this
 * machine's ext4 does; tmpfs does not, and there only the marker and "never throws" are checked).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spreadSnapshotDirs } from '../../../src/snapshot/spread.js';
import { ensureStore, storeLayout } from '../../../src/cli/store-root.js';

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

/** ensureStore starts chattr beside the build: wait until its marker names `layout`'s snapshots dir. */
async function marked(layout: ReturnType<typeof storeLayout>): Promise<void> {
  const ino = String(statSync(layout.snapshots).ino);
  for (let i = 0; i < 500; i++) {
    if (existsSync(join(layout.state, 'snapshots-spread')) && readFileSync(join(layout.state, 'snapshots-spread'), 'utf8') === ino) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no marker for ${layout.snapshots}`);
}

describe('spreadSnapshotDirs', () => {
  it('a new store: its snapshots root is a top directory, and the marker says it was done', async () => {
    const layout = storeLayout(join(dir, 'store'));
    await ensureStore(layout);
    await marked(layout);
    if (supported) expect(attrs(layout.snapshots)).toContain('T');
    // only the snapshots root: the store's other parts keep the allocator's default
    if (supported) expect(attrs(layout.content)).not.toContain('T');
  });

  it('tried once per directory: with its marker there, a store whose flag was cleared keeps it cleared', async () => {
    const layout = storeLayout(join(dir, 'store2'));
    await ensureStore(layout);
    await marked(layout);
    if (supported) execFileSync('chattr', ['-T', layout.snapshots]);
    await ensureStore(layout);
    await spreadSnapshotDirs(layout.snapshots, layout.state); // (a run in flight would be this one)
    if (supported) expect(attrs(layout.snapshots)).not.toContain('T');
  });

  it('a store copied elsewhere (cp and tar drop the flag) gets it again; the marker names the directory', async () => {
    const layout = storeLayout(join(dir, 'store3'));
    await ensureStore(layout);
    await marked(layout);
    const copy = storeLayout(join(dir, 'store3-copy'));
    execFileSync('cp', ['-r', layout.root, copy.root]);
    if (supported) expect(attrs(copy.snapshots)).not.toContain('T');
    await ensureStore(copy);
    await marked(copy);
    if (supported) expect(attrs(copy.snapshots)).toContain('T');
  });

  it('never throws or rejects: a directory that does not exist, no state dir to mark', async () => {
    await expect(spreadSnapshotDirs(join(dir, 'missing', 'snapshots'), join(dir, 'missing', 'state'))).resolves.toBeUndefined();
    mkdirSync(join(dir, 'nostate', 'snapshots'), { recursive: true });
    await expect(spreadSnapshotDirs(join(dir, 'nostate', 'snapshots'), join(dir, 'nostate', 'state'))).resolves.toBeUndefined();
  });
});
