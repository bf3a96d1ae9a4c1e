/**
 * Incremental COPY: make a copy's result from an earlier result of the same copy (same op, same parent
 * snapshot) instead of copying every file again, with exactly the outcome of a copy from scratch.
 *
 * The new snapshot's own dir (overlay upper dir, "upper") starts empty on the same parent:
 * 1. plan (`planReuse`), from the file rows alone when nothing is stale and the destination is named as a
 *    directory (the common case), else on a mount of the still empty snapshot, i.e. the parent alone:
 *    which paths the earlier copy wrote that this one will not write as the same type ("stale"). It gives
 *    up (undefined) on a stale path that the parent also has (kept simple: the parent's entry must show
 *    again), on a symlink of the parent where a directory is copied (the copy would write through it), on
 *    a match whose type changed and on an empty matched directory.
 * 2. unmounted: the earlier result's dir is mirrored into upper (`mirrorTree`: `cp -al`: directories are
 *    created with their metadata and xattrs, everything else is hard-linked), then stale paths are removed
 *    from upper (`removeStale`). The parent has none of them, so a copy from scratch would not have
 *    them in its upper dir either.
 * 3. mounted again, the usual copy runs with `reuseHooks`: an entry whose hard-linked copy already has the
 *    same type, content (per the file rows of both selections), mode, owner, size and mtime is left as it
 *    is; everything else is written through the overlay exactly as a copy from scratch writes it (a file
 *    is always unlinked before it is written, so a hard link shared with the earlier snapshot is replaced,
 *    never changed: the earlier snapshot stays as it was). Directories get their metadata again.
 * Times of directories that a copy only creates or modifies (the destination and its missing parents)
 * are build times in both cases; here they are the earlier build's when nothing changed inside them.
 */
import { execFile } from 'node:child_process';
import { lstatSync, realpathSync, rmSync, type Stats } from 'node:fs';
import { dirname, join, resolve as resolveHost } from 'node:path';
import { promisify } from 'node:util';
import type { SelectionFile } from '../context/checksum.js';
import type { SourceSelection } from '../context/select.js';
import { resolveInRootSync } from '../fsutil/scoped.js';
import { cleanSlashPath } from '../fsutil/slashpath.js';
import type { CopyReuse } from './copy.js';

const run = promisify(execFile);

export interface ReusePlan {
  /** The matched directory's destination, relative to the rootfs ("" = /); undefined for a file match. */
  destRel?: string;
  /** Did the destination directory exist before the match was copied (in the parent, or made as a named directory)? */
  destExisted: boolean;
  /** Paths below destRel to remove from upper before the copy (no path below another one). */
  stale: string[];
}

export interface PlanInput {
  /** Mount point of the new snapshot while it is still empty (= the parent's tree); see planReuse. */
  lowerRoot?: string;
  /** The copy's selection: one source with one match, not a wildcard. */
  selection: SourceSelection[];
  /** The copy's destination (as in CopyFilesOptions.dest). */
  dest: string;
  oldRows: Map<string, SelectionFile>;
  newRows: Map<string, SelectionFile>;
}

/** File rows by path; undefined when a path repeats (several sources landing on one path: not handled). */
export function rowsByPath(rows: SelectionFile[]): Map<string, SelectionFile> | undefined {
  const m = new Map<string, SelectionFile>();
  for (const r of rows) {
    if (m.has(r[0])) return undefined;
    m.set(r[0], r);
  }
  return m;
}

/**
 * Step 1 (see above). Undefined: copy from scratch. Without `lowerRoot`, the plan when it needs nothing of
 * the parent (no stale path, a destination named as a directory: the common case, which saves a mount), else
 * 'parent'. A symlink of the parent where a directory is copied is then met by the copy itself, which
 * throws CopyReuseUnsupported.
 */
export function planReuse(p: PlanInput): ReusePlan | 'parent' | undefined {
  if (p.selection.length !== 1 || p.selection[0]!.wildcard || p.selection[0]!.matches.length !== 1) return undefined;
  const match = p.selection[0]!.matches[0]!;
  const top = match.entries[0]!;
  const type = kindOf(top.type);
  const oldTop = p.oldRows.get(match.path);
  const newTop = p.newRows.get(match.path);
  if (!oldTop || !newTop || oldTop[1] !== type || newTop[1] !== type) return undefined;
  if (type !== 'd') return { destExisted: false, stale: [] };
  if (match.entries.length === 1) return undefined; // an empty directory: a copy from scratch may write nothing at all

  const prefix = match.path === '' ? '' : `${match.path}/`;
  const stale: string[] = [];
  for (const [path, row] of p.oldRows) {
    if (!path.startsWith(prefix) || path === match.path) continue;
    const now = p.newRows.get(path);
    if (!now || now[1] !== row[1]) stale.push(path.slice(prefix.length));
  }
  stale.sort();
  const outer: string[] = [];
  for (const s of stale) {
    const last = outer.at(-1);
    if (last === undefined || !s.startsWith(`${last}/`)) outer.push(s);
  }
  // As copyFiles: a destination named as a directory is made (by mkdirAllInRoot) before the match is copied.
  const named = p.dest.endsWith('/') || p.dest.endsWith('/.') || p.dest === '.';
  if (p.lowerRoot === undefined) return outer.length === 0 && named ? { destExisted: true, stale: [] } : 'parent';

  const lowerRoot = resolveHost(p.lowerRoot);
  const destHost = resolveInRootSync(lowerRoot, cleanSlashPath(`/${p.dest}`));
  const destRel = destHost === lowerRoot ? '' : destHost.slice(lowerRoot.length + 1);
  const destSt = tryLstat(destHost);
  if (destSt && !destSt.isDirectory()) return undefined;
  const lower = (suffix: string) => tryLstat(join(destHost, suffix));
  for (const rows of [p.oldRows, p.newRows]) {
    for (const [path, row] of rows) {
      if (row[1] === 'd' && path.startsWith(prefix) && path !== match.path && lower(path.slice(prefix.length))?.isSymbolicLink()) return undefined;
    }
  }
  // The parent has it too: removing it from upper would let the parent's entry show again, as a copy from
  // scratch does, but what the earlier copy left there (whiteouts, opaque dirs) is not worth reasoning about.
  if (outer.some((s) => lower(s))) return undefined;
  return { destRel, destExisted: destSt !== undefined || named, stale: outer };
}

/** Step 2a: hard-link mirror of `from` (the earlier result's own dir) into the empty dir `to`. */
export async function mirrorTree(from: string, to: string): Promise<void> {
  await run('cp', ['-a', '-l', '--', `${from}/.`, `${to}/`], { maxBuffer: 1024 * 1024 });
}

/** Step 2b: remove the plan's stale paths from upper (unmounted). Refuses to go through a symlink. */
export function removeStale(upper: string, plan: ReusePlan): void {
  if (plan.destRel === undefined) return;
  const base = join(upper, plan.destRel);
  for (const s of plan.stale) {
    const path = join(base, s);
    const parent = dirname(path);
    if (tryLstat(parent) === undefined) continue;
    if (realpathSync(parent) !== parent) throw new Error(`incremental copy: ${parent} is not a plain directory`);
    rmSync(path, { recursive: true, force: true });
  }
}

/** Step 3: the hooks copyFiles asks, for a copy into `rootfs` (the mount of the snapshot whose own dir is `upper`). */
export function reuseHooks(p: { rootfs: string; upper: string; plan: ReusePlan; oldRows: Map<string, SelectionFile>; newRows: Map<string, SelectionFile> }): CopyReuse & { kept: number } {
  const root = resolveHost(p.rootfs);
  const prefix = `${root}/`;
  const rel = (host: string) => (host === root ? '' : host.startsWith(prefix) ? host.slice(prefix.length) : undefined);
  const hooks = {
    kept: 0,
    keep(host: string, e: { rel: string; type: string; stat: Stats }, matchPath: string, want: { mode: number; uid: number; gid: number }): boolean {
      const path = e.rel === '' ? matchPath : matchPath === '' ? e.rel : `${matchPath}/${e.rel}`;
      const o = p.oldRows.get(path);
      const n = p.newRows.get(path);
      const type = kindOf(e.type);
      if (!o || !n || type === 'd' || o[1] !== type || n[1] !== type || o[3] !== n[3]) return false;
      const r = rel(host);
      if (r === undefined) return false;
      const st = tryLstat(join(p.upper, r));
      if (!st) return false;
      if (type === 'f') {
        if (!st.isFile() || st.size !== e.stat.size || (st.mode & 0o7777) !== (want.mode & 0o7777)) return false;
      } else if (!st.isSymbolicLink()) return false;
      if (st.uid !== want.uid || st.gid !== want.gid || Math.round(st.mtimeMs) !== e.stat.mtime.getTime()) return false;
      hooks.kept++;
      return true;
    },
    existedBefore(destHost: string): boolean {
      return rel(destHost) !== p.plan.destRel || p.plan.destExisted;
    },
  };
  return hooks;
}

function kindOf(t: string): 'f' | 'd' | 'l' {
  return t === 'dir' ? 'd' : t === 'symlink' ? 'l' : 'f';
}

function tryLstat(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}
