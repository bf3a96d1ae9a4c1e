/**
 * Incremental COPY (solver/ops/file/copy-reuse.ts, src/copy/incremental.ts): after a change to the context, a
 * COPY that was built before starts from its earlier result and copies only what changed. The result
 * must be the one a copy from scratch gives: each case builds the changed context incrementally, then
 * with --no-cache, and compares the layer diff_ids (mtimes clamped with SOURCE_DATE_EPOCH +
 * rewrite-timestamp, so that only the build-time mtimes of directories the copy creates are evened
 * out; every context file and directory is older than the epoch) and the trees umoci unpacks. That the
 * incremental path was taken is checked in the store: the step's snapshot shares files (hard links)
 * with the earlier one.
 */
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, utimesSync, lutimesSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { suiteSandbox, skopeoInspectConfig, umociUnpack } from './harness.js';

const sb = suiteSandbox();

const EPOCH = 1700000000; // 2023-11-14
const OLD = new Date('2020-01-01T00:00:00Z').getTime() / 1000;

function write(path: string, text: string): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
}

/** Give every entry below `dir` a distinct fixed mtime older than EPOCH (deepest first, so dirs keep theirs). */
function age(dir: string): void {
  const all: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      all.push(p);
      if (e.isDirectory()) walk(p);
    }
  };
  walk(dir);
  all.sort().reverse();
  for (const p of all) {
    const t = OLD + (parseInt(createHash('sha256').update(p.slice(dir.length)).digest('hex').slice(0, 6), 16) % 100000);
    lutimesSync(p, t, t);
  }
  utimesSync(dir, OLD, OLD);
}

function project(name: string, dockerfile: string, files: Record<string, string>): string {
  const dir = join(sb.dir, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'Dockerfile'), dockerfile);
  for (const [p, text] of Object.entries(files)) write(join(dir, p), text);
  age(dir);
  return dir;
}

let n = 0;
/** Build ctx into an OCI archive with clamped mtimes; returns [diff_ids, unpacked tree description]. */
async function buildOci(ctx: string, extra: string[] = []): Promise<{ diffIds: string[]; tree: Map<string, string>; stderr: string }> {
  const out = join(sb.dir, `img-${++n}.tar`);
  const res = await sb.build([...extra, '-t', `inc:v${n}`, '-o', `type=oci,dest=${out},rewrite-timestamp=true`, ctx], { env: { SOURCE_DATE_EPOCH: String(EPOCH) } });
  const diffIds = skopeoInspectConfig(out).rootfs.diff_ids as string[];
  const rootfs = umociUnpack(sb, out, `v${n}`);
  return { diffIds, tree: describeTree(rootfs), stderr: res.stderr };
}

/** path → type, mode, owner, mtime, content hash or link target. */
function describeTree(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string, rel: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const r = `${rel}/${name}`;
      const st = lstatSync(p);
      let what = '';
      if (st.isFile()) what = createHash('sha256').update(readFileSync(p)).digest('hex');
      else if (st.isSymbolicLink()) what = readlinkSync(p);
      out.set(r, `${st.mode.toString(8)} ${st.uid}:${st.gid} ${Math.floor(st.mtimeMs / 1000)} ${what}`);
      if (st.isDirectory()) walk(p, r);
    }
  };
  walk(root, '');
  return out;
}

/** Files of the newest snapshot of step `name` that are shared (hard-linked) with another snapshot. */
function sharedFiles(name: string): number {
  const recDir = join(sb.root, 'cache/records');
  const recs = readdirSync(recDir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(recDir, f), 'utf8')) as { snapshot: string; name?: string; created: string })
    .filter((r) => r.name === name)
    .sort((a, b) => (a.created < b.created ? 1 : -1));
  expect(recs.length).toBeGreaterThan(0);
  const meta = JSON.parse(readFileSync(join(sb.root, 'snapshots/meta', createHash('sha256').update(recs[0]!.snapshot).digest('hex') + '.json'), 'utf8')) as { id: string };
  let shared = 0;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && lstatSync(p).nlink > 1) shared++;
    }
  };
  walk(join(sb.root, 'snapshots', meta.id, 'fs'));
  return shared;
}

/** Build incrementally, then from scratch; both must agree. Returns the incremental build's shared file count. */
async function expectSameAsScratch(ctx: string, step: string): Promise<number> {
  const inc = await buildOci(ctx);
  expect(inc.stderr).toMatch(new RegExp(`${step.replace(/[.[\]/]/g, '\\$&')}\\n#\\d+ cache miss`));
  const shared = sharedFiles(step);
  const ref = await buildOci(ctx, ['--no-cache']);
  expect(inc.diffIds).toEqual(ref.diffIds);
  expect([...inc.tree.entries()]).toEqual([...ref.tree.entries()]);
  return shared;
}

function files(count: number, prefix = 'src'): Record<string, string> {
  const f: Record<string, string> = {};
  for (let i = 0; i < count; i++) f[`${prefix}/d${i % 4}/f${i}.txt`] = `file ${i}\n`.repeat(1 + (i % 5));
  return f;
}

describe('incremental COPY gives what a copy from scratch gives', () => {
  it('COPY . . into an existing WORKDIR: content change, added and removed files, mode change, mtime-only change', async () => {
    const ctx = project('p1', 'FROM busybox\nWORKDIR /app\nCOPY . .\n', { ...files(40), ...files(550, 'more'), '.dockerignore': 'ignored\n', ignored: 'x\n' });
    await buildOci(ctx);
    const step = '[3/3] COPY . .';

    write(join(ctx, 'src/d1/f1.txt'), 'changed\n');
    write(join(ctx, 'src/d2/new.txt'), 'new\n');
    write(join(ctx, 'src/new-dir/deep/n.txt'), 'new dir\n');
    rmSync(join(ctx, 'src/d3/f3.txt'));
    rmSync(join(ctx, 'src/d0'), { recursive: true });
    age(ctx);
    expect(await expectSameAsScratch(ctx, step)).toBeGreaterThanOrEqual(575);

    chmodSync(join(ctx, 'src/d1/f5.txt'), 0o755); // mode only
    utimesSync(join(ctx, 'src/d2/f6.txt'), OLD + 7, OLD + 7); // mtime only (the key does not see it)
    write(join(ctx, 'src/d3/f7.txt'), 'changed too\n'); // so that the key changes
    utimesSync(join(ctx, 'src/d3/f7.txt'), OLD + 9, OLD + 9);
    expect(await expectSameAsScratch(ctx, step)).toBeGreaterThanOrEqual(575);
  });

  it('file ↔ directory swaps and symlinks; a destination the copy creates', async () => {
    const ctx = project('p2', 'FROM busybox\nCOPY tree/ /opt/made/by/copy/\n', {
      'tree/a.txt': 'a\n',
      'tree/becomes-dir': 'file\n',
      'tree/becomes-file/x.txt': 'x\n',
      'tree/becomes-file/y/z.txt': 'z\n',
      ...files(550, 'tree/many'),
    });
    symlinkSync('a.txt', join(ctx, 'tree/link'));
    symlinkSync('a.txt', join(ctx, 'tree/link-becomes-file'));
    write(join(ctx, 'tree/file-becomes-link'), 'f\n');
    age(ctx);
    await buildOci(ctx);
    const step = '[2/2] COPY tree/ /opt/made/by/copy/';

    rmSync(join(ctx, 'tree/becomes-dir'));
    write(join(ctx, 'tree/becomes-dir/inner.txt'), 'inner\n');
    rmSync(join(ctx, 'tree/becomes-file'), { recursive: true });
    write(join(ctx, 'tree/becomes-file'), 'now a file\n');
    rmSync(join(ctx, 'tree/link'));
    symlinkSync('many/d0/f0.txt', join(ctx, 'tree/link'));
    rmSync(join(ctx, 'tree/link-becomes-file'));
    write(join(ctx, 'tree/link-becomes-file'), 'file now\n');
    rmSync(join(ctx, 'tree/file-becomes-link'));
    symlinkSync('a.txt', join(ctx, 'tree/file-becomes-link'));
    chmodSync(join(ctx, 'tree/many'), 0o700); // a directory's mode
    age(ctx);
    expect(await expectSameAsScratch(ctx, step)).toBeGreaterThanOrEqual(550);
  });

  it('a removed file that the parent also has falls back to a full copy, with the same result', async () => {
    // /etc/hostname is in the base image: after it is removed from the context the base's file must show
    // again. The incremental copy leaves stale paths that the parent has to a copy from scratch.
    const ctx = project('p3', 'FROM busybox\nCOPY etc/ /etc/\n', { 'etc/hostname': 'mine\n', 'etc/extra.conf': 'x\n', 'etc/other.conf': 'y\n', ...files(550, 'etc/many') });
    await buildOci(ctx);
    rmSync(join(ctx, 'etc/hostname'));
    write(join(ctx, 'etc/extra.conf'), 'changed\n');
    age(ctx);
    expect(await expectSameAsScratch(ctx, '[2/2] COPY etc/ /etc/')).toBe(0);
  });

  it('a symlink of the parent where a directory is copied (the copy writes through it) falls back to a full copy', async () => {
    const ctx = project('p5', 'FROM busybox\nRUN mkdir -p /app /opt/real && ln -s /opt/real /app/sub\nCOPY tree/ /app/\n', { 'tree/top.txt': 't\n', ...files(550, 'tree/sub') });
    await buildOci(ctx);
    write(join(ctx, 'tree/sub/d1/f1.txt'), 'changed\n');
    age(ctx);
    expect(await expectSameAsScratch(ctx, '[3/3] COPY tree/ /app/')).toBe(0);
  });

  it('a single-file COPY; a directory copied to a new path; a pruned earlier result (copies from scratch)', async () => {
    const ctx = project('p4', 'FROM busybox\nCOPY one.txt /one.txt\nCOPY many /many\n', { 'one.txt': 'one\n', ...files(550, 'many') });
    await buildOci(ctx);
    write(join(ctx, 'one.txt'), 'two\n');
    age(ctx);
    await expectSameAsScratch(ctx, '[2/3] COPY one.txt /one.txt');
    // the matched directory itself lands at /many (made by the copy, with the source dir's metadata)
    write(join(ctx, 'many/d2/f2.txt'), 'changed\n');
    chmodSync(join(ctx, 'many'), 0o750);
    age(ctx);
    expect(await expectSameAsScratch(ctx, '[3/3] COPY many /many')).toBeGreaterThanOrEqual(549);

    // prune the cache: the step memo is still there but its record and snapshot are gone
    const prune = await sb.tsbuild(['prune', '--all']);
    expect(prune.code).toBe(0);
    write(join(ctx, 'many/d1/f1.txt'), 'after prune\n');
    age(ctx);
    expect(existsSync(join(sb.root, 'cache/steps'))).toBe(true);
    expect(await expectSameAsScratch(ctx, '[3/3] COPY many /many')).toBe(0);
  });
});

/** Every entry of every committed snapshot: path → inode, mode, owner, size, mtime, content hash. */
function committedState(): Map<string, string> {
  const state = new Map<string, string>();
  const metaDir = join(sb.root, 'snapshots/meta');
  for (const f of readdirSync(metaDir)) {
    if (!f.endsWith('.json')) continue;
    const m = JSON.parse(readFileSync(join(metaDir, f), 'utf8')) as { id: string; kind: string };
    if (m.kind !== 'committed') continue;
    const walk = (d: string) => {
      for (const name of readdirSync(d)) {
        const p = join(d, name);
        const st = lstatSync(p, { bigint: true });
        const content = st.isFile() ? createHash('sha256').update(readFileSync(p)).digest('hex') : st.isSymbolicLink() ? readlinkSync(p) : '';
        state.set(p, `${st.ino} ${st.mode} ${st.uid}:${st.gid} ${st.size} ${st.mtimeNs} ${content}`);
        if (st.isDirectory()) walk(p);
      }
    };
    walk(join(sb.root, 'snapshots', m.id, 'fs'));
  }
  return state;
}

describe('incremental COPY and crashes', () => {
  it('SIGKILL at several points of an incremental COPY never changes an earlier snapshot; the next build and doctor are fine', async () => {
    const ctx = project('crash', 'FROM busybox\nWORKDIR /app\nCOPY . .\n', files(3000, 'src'));
    await sb.build(['-t', 'crash:v1', ctx]);
    let killedDuringCopy = 0;
    for (const [i, delay] of [0, 30, 80, 160, 320].entries()) {
      write(join(ctx, `src/d${i % 4}/f${i}.txt`), `changed before kill ${i}\n`);
      const before = committedState();
      const child = sb.spawn(['build', '--progress', 'plain', '-t', 'crash:v1', ctx]);
      const exited = new Promise<void>((res) => child.on('exit', () => res()));
      let err = '';
      await new Promise<void>((res) => {
        child.stderr.on('data', (d) => {
          err += d;
          if (/COPY \. \.\n/.test(err)) res();
        });
        child.on('exit', () => res());
      });
      await new Promise((r) => setTimeout(r, delay));
      child.kill('SIGKILL');
      await exited;
      const copyId = /#(\d+) \[3\/3\] COPY \. \.\n/.exec(err)?.[1];
      if (copyId && !new RegExp(`#${copyId} DONE`).test(err)) killedDuringCopy++;
      const after = committedState();
      for (const [path, what] of before) if (after.has(path)) expect(after.get(path), path).toBe(what);
      // every earlier snapshot is still there (nothing removed them)
      expect([...before.keys()].filter((p) => !after.has(p))).toEqual([]);
    }
    expect(killedDuringCopy).toBeGreaterThan(0);
    const next = await sb.build(['-t', 'crash:v1', ctx]);
    expect(next.stderr).not.toMatch(/ERROR/);
    // A kill mid-write may leave a temp file (never read); the next build's crash recovery removes it.
    expect(sb.storeLeftovers()).toEqual([]);
    const doctor = await sb.tsbuild(['doctor']);
    expect(doctor.code, doctor.stdout + doctor.stderr).toBe(0);
    // and an incremental copy from what the crashes left gives what a copy from scratch gives
    write(join(ctx, 'src/d1/f9.txt'), 'after the crashes\n');
    await expectSameAsScratch(ctx, '[3/3] COPY . .').then((shared) => expect(shared).toBeGreaterThan(2900));
  });
});
