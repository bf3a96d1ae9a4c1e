import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { lstat, lutimes, mkdir, open, rmdir, unlink, chown } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { resolveInRoot } from '../fsutil/scoped.js';

const run = promisify(execFile);

/**
 * Mount-point stubs: the files and directories a step's mounts need in the rootfs (/etc/hosts,
 * /etc/resolv.conf, /proc, /dev, /sys) that the rootfs did not have. We create them before the step
 * (instead of letting runc do it, so we know exactly what was made) and remove them afterwards, so
 * they never end up in a layer. A directory that already existed and got a stub inside it has its
 * mtime restored, unless the step changed that directory itself.
 *
 * The record is plain data (paths relative to the rootfs) so a crashed build's record, saved in the
 * bundle, can be undone later by cleanupStaleContainers.
 */
export interface StubRecord {
  /** Created paths, relative to the rootfs, in creation order (parents first). */
  created: { path: string; kind: 'file' | 'dir' }[];
  /** Existing directories that got a stub: their mtime before and right after stub creation. */
  parents: { path: string; mtimeBefore: string; mtimeAfter: string }[];
}

export async function createStubs(rootfs: string, want: { files: string[]; dirs: string[] }): Promise<StubRecord> {
  const plan: { host: string; kind: 'file' | 'dir' }[] = [];
  const parents = new Map<string, string>();
  const targets = [...want.dirs.map((p) => ({ p, kind: 'dir' as const })), ...want.files.map((p) => ({ p, kind: 'file' as const }))];
  for (const { p, kind } of targets) {
    const host = await resolveInRoot(rootfs, p);
    if (await exists(host)) continue;
    // Walk up to the deepest existing ancestor; everything below it is ours to create.
    const missing: string[] = [host];
    let dir = dirname(host);
    while (dir.startsWith(rootfs) && dir !== rootfs && !(await exists(dir))) {
      missing.unshift(dir);
      dir = dirname(dir);
    }
    if (!parents.has(dir)) parents.set(dir, await mtimeOf(dir));
    for (const m of missing.slice(0, -1)) if (!plan.some((x) => x.host === m)) plan.push({ host: m, kind: 'dir' });
    plan.push({ host, kind });
  }
  const record: StubRecord = { created: [], parents: [] };
  for (const { host, kind } of plan) {
    if (await exists(host)) continue;
    if (kind === 'dir') await mkdir(host, { mode: 0o755 });
    else await (await open(host, 'wx', 0o644)).close();
    record.created.push({ path: rel(rootfs, host), kind });
  }
  for (const [dir, before] of parents) {
    record.parents.push({ path: rel(rootfs, dir), mtimeBefore: before, mtimeAfter: await mtimeOf(dir) });
  }
  return record;
}

/**
 * Remove what createStubs made (deepest first); a directory the step filled is left in place.
 * The step ran arbitrary code in this rootfs: it may have replaced a stub or one of its parents with a
 * symlink to anywhere (e.g. `/etc -> /host/dir`). So a path is touched only when every parent component
 * is still a real directory and the stub itself is still what we made (an empty file, a directory);
 * anything else is the step's own doing and stays as it is.
 */
export async function removeStubs(rootfs: string, record: StubRecord): Promise<void> {
  const current = new Map<string, string>();
  for (const p of record.parents) {
    const host = await untouchedPath(rootfs, p.path, 'dir');
    current.set(p.path, host ? await mtimeOf(host).catch(() => '') : '');
  }
  for (const c of [...record.created].reverse()) {
    const host = await untouchedPath(rootfs, c.path, c.kind);
    if (!host) continue;
    try {
      if (c.kind === 'dir') await rmdir(host);
      else await unlink(host);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code !== 'ENOENT' && code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
    }
  }
  for (const p of record.parents) {
    if (current.get(p.path) !== p.mtimeAfter) continue;
    const host = await untouchedPath(rootfs, p.path, 'dir');
    if (host) await setMtime(host, p.mtimeBefore);
  }
}

/**
 * The host path of `rel` inside rootfs when no component of it is a symlink, every parent is a
 * directory, and the final component is an empty regular file (`file`) or a directory (`dir`);
 * otherwise undefined.
 */
export async function untouchedPath(rootfs: string, rel: string, kind: 'file' | 'dir'): Promise<string | undefined> {
  const parts = rel.split(sep).filter((x) => x !== '' && x !== '.');
  if (parts.includes('..')) return undefined;
  let host = rootfs;
  for (let i = 0; i < parts.length; i++) {
    host = join(host, parts[i]!);
    let st;
    try {
      st = await lstat(host);
    } catch {
      return undefined;
    }
    const last = i === parts.length - 1;
    if (!last || kind === 'dir') {
      if (!st.isDirectory()) return undefined; // lstat: a symlink is never a directory here
    } else if (!st.isFile() || st.size !== 0) {
      return undefined;
    }
  }
  return host;
}

/**
 * Make the working directory `cwd` exist inside the rootfs; missing components are created owned by
 * uid:gid (Docker creates a missing WORKDIR for the step's user). Symlinks resolve inside the rootfs.
 */
export async function ensureWorkdir(rootfs: string, cwd: string, uid: number, gid: number): Promise<void> {
  const host = await resolveInRoot(rootfs, cwd);
  if (await exists(host)) return;
  const missing: string[] = [];
  for (let d = host; d !== rootfs && d.startsWith(rootfs + sep) && !(await exists(d)); d = dirname(d)) missing.unshift(d);
  for (const d of missing) {
    await mkdir(d, { mode: 0o755 });
    await chown(d, uid, gid);
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}

/** mtime as "seconds.nanoseconds" (exact; a JS number would lose the nanoseconds). */
async function mtimeOf(p: string): Promise<string> {
  const st = await lstat(p, { bigint: true });
  const s = st.mtimeNs / 1_000_000_000n;
  const ns = st.mtimeNs % 1_000_000_000n;
  return `${s}.${ns.toString().padStart(9, '0')}`;
}

/**
 * Set the mtime exactly. Node's utimes goes through a double and can only be trusted with whole
 * seconds (common: tar-extracted layers); otherwise touch(1) sets the nanoseconds.
 */
async function setMtime(p: string, mtime: string): Promise<void> {
  const [sec, ns] = mtime.split('.') as [string, string];
  if (/^0+$/.test(ns)) {
    const st = await lstat(p);
    await lutimes(p, st.atime, Number(sec));
    return;
  }
  await run('touch', ['-h', '-m', '-d', '@' + mtime, p]);
}

function rel(rootfs: string, host: string): string {
  return relative(rootfs, host);
}
