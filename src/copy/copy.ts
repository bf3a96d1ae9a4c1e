/**
 * Docker's COPY rules, from one root (the build context or a stage rootfs) into a destination rootfs.
 *
 * - A directory source copies its contents; `dest` ending in "/" (or an existing directory) means "into it".
 * - Several matches (several sources, or a wildcard matching several) need a directory destination.
 * - Missing parents of dest, and a missing dest a directory is copied into, are created 0755, owned by
 *   `chown` if given, else 0:0 (the source directory's own mode and owner are not copied; nor is --chmod applied).
 * - Files keep their mode and mtime; symlinks below a copied directory are copied as symlinks; a matched
 *   symlink is followed (within srcRoot) when followSymlinks.
 * - Ownership: `chown` if given, else the source's when preserveOwnership (stage → stage), else 0:0.
 * - `chmod` applies to every copied file and directory (not to symlinks).
 * - Every destination path is resolved with chroot semantics (src/fsutil/scoped.ts): hostile symlinks in
 *   the destination rootfs (`/app -> /etc`) can never make a write land outside destRoot. An existing
 *   file or symlink in the way is replaced, never written through.
 */
import {
  chmodSync,
  constants,
  copyFileSync,
  lchownSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  type Stats,
} from 'node:fs';
import { resolve as resolveHost } from 'node:path';
import { ContextError } from '../errors.js';
import { resolveInRootSync } from '../fsutil/scoped.js';
import { cleanSlashPath } from '../fsutil/slashpath.js';
import { selectSources, type SelectedEntry, type SourceSelection } from '../context/select.js';
import { DockerIgnoreMatcher } from '../context/dockerignore.js';
import { applyCopyExclude, parentsPath } from './copy-flags.js';
import { detectArchive } from '../archive/detect.js';
import { extractArchive } from '../archive/extract.js';
import type { ModeFn } from './chmod.js';

export interface CopyFilesOptions {
  srcRoot: string;
  destRoot: string;
  src: string[];
  /** Absolute path in the destination; a trailing "/" means a directory. */
  dest: string;
  allowWildcard: boolean;
  followSymlinks: boolean;
  exclude?: DockerIgnoreMatcher;
  chown?: { uid: number; gid: number };
  /** A mode for everything copied, or a function of each entry's mode (symbolic --chmod). */
  chmod?: number | ModeFn;
  preserveOwnership: boolean;
  /** COPY --exclude: .dockerignore-syntax patterns matched against paths relative to each match. */
  excludePatterns?: string[];
  /** COPY --parents: each match lands at dest/<its path>; `/./` in a source marks where that path starts. */
  parents?: boolean;
  /** ADD: a matched file that is a tar archive (by content) is extracted into dest instead of copied. */
  unpack?: boolean;
  /** A selection already made by selectSources with the same srcRoot/src/options (saves a second walk). */
  selection?: SourceSelection[];
  /** For messages: "build context" (default) or e.g. "stage builder". */
  rootName?: string;
  /**
   * Incremental COPY (./incremental.ts): the destination already holds an earlier copy's result; entries
   * `reuse.keep` vouches for are left as they are, everything else is written as usual.
   */
  reuse?: CopyReuse;
}

/** How copyFiles skips what an earlier copy already wrote (see ./incremental.ts). */
export interface CopyReuse {
  /** True when `host` already holds exactly what copying `e` there would write (type, content, mode, owner, mtime). */
  keep(host: string, e: SelectedEntry, matchPath: string, want: { mode: number; uid: number; gid: number }): boolean;
  /** Did the directory `destHost` (a match's destination) exist before this op wrote anything? */
  existedBefore(destHost: string): boolean;
}

/** Thrown when an incremental copy meets a case it does not handle; the caller copies from scratch instead. */
export class CopyReuseUnsupported extends Error {}

const MULTI_SOURCE_MESSAGE = 'When using COPY with more than one source file, the destination must be a directory and end with a /';

/** Parse a `--chmod` value. Octal only for now (e.g. "755", "0644"). */
export function parseChmod(s: string): number {
  if (!/^[0-7]{1,4}$/.test(s)) {
    throw new ContextError('BAD_CHMOD', `invalid --chmod value ${JSON.stringify(s)}: expected an octal mode such as 755`);
  }
  return parseInt(s, 8);
}

export async function copyFiles(opts: CopyFilesOptions): Promise<void> {
  const selection =
    opts.selection ??
    (await selectSources({
      root: opts.srcRoot,
      sources: opts.src,
      allowWildcard: opts.allowWildcard,
      followSymlinks: opts.followSymlinks,
      ...(opts.exclude ? { exclude: opts.exclude } : {}),
      ...(opts.rootName ? { rootName: opts.rootName } : {}),
    }));
  if (opts.excludePatterns && opts.excludePatterns.length > 0) applyCopyExclude(selection, new DockerIgnoreMatcher(opts.excludePatterns));
  const destRoot = resolveHost(opts.destRoot);
  const destIsDirName = opts.dest.endsWith('/') || opts.dest.endsWith('/.') || opts.dest === '.';
  const dest = cleanSlashPath(`/${opts.dest}`);
  const dirOwner = opts.chown ?? { uid: 0, gid: 0 };
  const total = selection.reduce((n, s) => n + s.matches.length, 0);

  if (opts.parents) {
    await copyWithParents(opts, selection, destRoot, dest, dirOwner);
    return;
  }
  if (total > 1 && !destIsDirName && !isDir(resolveInRootSync(destRoot, dest))) {
    throw new ContextError('COPY_DEST_NOT_DIR', `${MULTI_SOURCE_MESSAGE} (destination "${opts.dest}")`);
  }
  mkdirAllInRoot(destRoot, destIsDirName ? dest : parentOf(dest), dirOwner);

  const w = new Writer(destRoot, opts);
  for (const source of selection) {
    for (const match of source.matches) {
      const top = match.entries[0]!;
      const destHost = resolveInRootSync(destRoot, dest);
      const destSt = tryLstat(destHost);
      if (top.type === 'dir') {
        // As BuildKit: the directory's contents are copied; a missing destination is made like any missing
        // parent (0755, the --chown owner or root), never with the source dir's mode/owner or --chmod.
        if (!destSt) {
          mkdirMissing(destRoot, destHost, dirOwner);
        } else if (!destSt.isDirectory()) {
          throw new ContextError('COPY_DEST_NOT_DIR', `cannot copy directory "${source.src}" to "${opts.dest}": it exists and is not a directory`);
        } else if (opts.reuse && !opts.reuse.existedBefore(destHost)) {
          // created by the earlier copy, as this one would have
          lchownSync(destHost, dirOwner.uid, dirOwner.gid);
          chmodSync(destHost, 0o755);
        }
        await w.copyTree(destHost, match.entries, match.path);
      } else if (opts.unpack && top.type === 'file' && (await unpackInto(opts, destRoot, dest, top, dirOwner))) {
        continue;
      } else {
        const name = baseName(match.path === '' ? top.hostPath : match.path);
        const into = destIsDirName || (destSt?.isDirectory() ?? false);
        const targetPath = into ? `${relTo(destRoot, destHost)}/${name}` : dest;
        const target = resolveInRootSync(destRoot, targetPath, { followFinal: false });
        if (!w.kept(target, top, match.path)) w.copyLeaf(target, top, true);
      }
    }
  }
  w.finishDirTimes();
}

/** Writes entries below already-resolved destination directories. */
class Writer {
  private readonly dirTimes: Array<[string, Stats]> = [];
  private count = 0;
  constructor(
    private readonly destRoot: string,
    private readonly opts: CopyFilesOptions,
  ) {}

  mode(e: SelectedEntry): number {
    const c = this.opts.chmod;
    const own = e.stat.mode & 0o7777;
    return c === undefined ? own : typeof c === 'number' ? c : c(own, e.type === 'dir');
  }

  owner(st: Stats): { uid: number; gid: number } {
    if (this.opts.chown) return this.opts.chown;
    return this.opts.preserveOwnership ? { uid: st.uid, gid: st.gid } : { uid: 0, gid: 0 };
  }

  /** Owner, then mode (chown clears set-id bits); the mtime is set at the end (children change it). */
  applyMeta(host: string, e: SelectedEntry): void {
    const o = this.owner(e.stat);
    lchownSync(host, o.uid, o.gid);
    chmodSync(host, this.mode(e));
    this.dirTimes.push([host, e.stat]);
  }

  /** With opts.reuse: is `host` already what copying `e` would make? */
  kept(host: string, e: SelectedEntry, matchPath: string): boolean {
    const reuse = this.opts.reuse;
    if (!reuse) return false;
    const o = this.owner(e.stat);
    return reuse.keep(host, e, matchPath, { mode: this.mode(e), uid: o.uid, gid: o.gid });
  }

  /** Copy entries[1..] (below a matched directory) into the directory `base`. */
  async copyTree(base: string, entries: SelectedEntry[], matchPath = ''): Promise<void> {
    const dirs = new Map<string, string>([['', base]]);
    for (let i = 1; i < entries.length; i++) {
      const e = entries[i]!;
      const slash = e.rel.lastIndexOf('/');
      const parentRel = slash < 0 ? '' : e.rel.slice(0, slash);
      const parentHost = dirs.get(parentRel);
      if (parentHost === undefined) continue; // parent could not be created as a directory (never happens)
      const host = `${parentHost}/${e.rel.slice(slash + 1)}`;
      if (e.type === 'dir') dirs.set(e.rel, this.copyDir(host, e));
      else if (!this.kept(host, e, matchPath)) this.copyLeaf(host, e, false);
      if (++this.count % 256 === 0) await new Promise((r) => setImmediate(r));
    }
  }

  /** A directory below a match: reuse an existing one (its metadata is overwritten), else create it. */
  private copyDir(host: string, e: SelectedEntry): string {
    const st = tryLstat(host);
    if (st?.isDirectory()) {
      this.applyMeta(host, e);
      return host;
    }
    if (st?.isSymbolicLink()) {
      if (this.opts.reuse) throw new CopyReuseUnsupported(`a symlink is in the way of directory ${relTo(this.destRoot, host)}`);
      // e.g. /lib -> usr/lib in the destination: write into the directory it names, inside destRoot.
      const followed = resolveInRootSync(this.destRoot, relTo(this.destRoot, host));
      if (isDir(followed)) return followed;
    }
    if (st) unlinkSync(host);
    mkdirSync(host);
    this.applyMeta(host, e);
    return host;
  }

  /** A file or symlink at `host` (whose final component is never followed). */
  copyLeaf(host: string, e: SelectedEntry, top: boolean): void {
    const existing = tryLstat(host);
    if (existing?.isDirectory()) {
      if (top) throw new ContextError('COPY_DEST_IS_DIR', `cannot replace directory ${relTo(this.destRoot, host)} with a file`);
      rmSync(host, { recursive: true, force: true });
    } else if (existing) {
      unlinkSync(host);
    }
    const o = this.owner(e.stat);
    if (e.type === 'symlink') {
      symlinkSync(e.linkTarget ?? '', host);
      lchownSync(host, o.uid, o.gid);
      lutimesSync(host, e.stat.atime, e.stat.mtime);
      return;
    }
    copyFileSync(e.hostPath, host, constants.COPYFILE_EXCL);
    lchownSync(host, o.uid, o.gid);
    chmodSync(host, this.mode(e));
    lutimesSync(host, e.stat.atime, e.stat.mtime);
  }

  /** Set directory times deepest first, after their contents were written. */
  finishDirTimes(): void {
    for (let i = this.dirTimes.length - 1; i >= 0; i--) {
      const [host, st] = this.dirTimes[i]!;
      lutimesSync(host, st.atime, st.mtime);
    }
  }
}

/** Create `path` (absolute in root) and its missing parents, 0755, owned by `owner`. Returns the host path. */
export function mkdirAllInRoot(root: string, path: string, owner: { uid: number; gid: number }): string {
  let cur = '';
  let host = resolveHost(root);
  for (const part of cleanSlashPath(`/${path}`).split('/')) {
    if (part === '') continue;
    cur = `${cur}/${part}`;
    host = resolveInRootSync(root, cur);
    const st = tryLstat(host);
    if (!st) {
      mkdirMissing(root, host, owner);
    } else if (!st.isDirectory()) {
      throw new ContextError('COPY_DEST_NOT_DIR', `cannot create directory ${cur}: a file is in the way`);
    }
  }
  return host;
}

/**
 * Create `host` (a path resolveInRootSync returned, so its existing prefix has no symlinks left) and its
 * missing ancestors: a symlink may have led to a missing path several levels deep.
 */
function mkdirMissing(root: string, host: string, owner: { uid: number; gid: number }): void {
  const rootHost = resolveHost(root);
  const missing: string[] = [];
  for (let p = host; p.length > rootHost.length && !tryLstat(p); p = p.slice(0, p.lastIndexOf('/'))) missing.push(p);
  for (const m of missing.reverse()) {
    mkdirSync(m);
    lchownSync(m, owner.uid, owner.gid);
    chmodSync(m, 0o755);
  }
}

function isDir(host: string): boolean {
  return tryLstat(host)?.isDirectory() ?? false;
}

function tryLstat(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}

function parentOf(p: string): string {
  const i = p.lastIndexOf('/');
  return i <= 0 ? '/' : p.slice(0, i);
}

function baseName(p: string): string {
  const i = p.lastIndexOf('/');
  return i < 0 ? p : p.slice(i + 1);
}

function relTo(root: string, host: string): string {
  const r = resolveHost(root);
  if (host === r) return '';
  return r === '/' ? host.slice(1) : host.slice(r.length + 1);
}

async function copyWithParents(
  opts: CopyFilesOptions,
  selection: SourceSelection[],
  destRoot: string,
  dest: string,
  dirOwner: { uid: number; gid: number },
): Promise<void> {
  mkdirAllInRoot(destRoot, dest, dirOwner);
  const w = new Writer(destRoot, opts);
  for (const source of selection) {
    for (const match of source.matches) {
      const top = match.entries[0]!;
      const rel = parentsPath(source.src, match.path);
      const target = rel === '' ? dest : cleanSlashPath(`${dest}/${rel}`);
      if (top.type === 'dir') {
        const host = mkdirAllInRoot(destRoot, target, dirOwner);
        if (rel !== '') w.applyMeta(host, top);
        await w.copyTree(host, match.entries);
      } else {
        if (rel === '') throw new ContextError('COPY_DEST_NOT_DIR', `--parents: cannot place "${source.src}" at the destination itself`);
        mkdirAllInRoot(destRoot, parentOf(target), dirOwner);
        w.copyLeaf(resolveInRootSync(destRoot, target, { followFinal: false }), top, true);
      }
    }
  }
  w.finishDirTimes();
}

/** ADD of a local archive: extract it into dest (a directory). Returns false when the file is not an archive. */
async function unpackInto(
  opts: CopyFilesOptions,
  destRoot: string,
  dest: string,
  top: SelectedEntry,
  dirOwner: { uid: number; gid: number },
): Promise<boolean> {
  const compression = await detectArchive(top.hostPath);
  if (compression === null) return false;
  const chmod = opts.chmod;
  await extractArchive(top.hostPath, compression, {
    root: destRoot,
    dir: dest,
    ...(opts.chown ? { chown: opts.chown } : {}),
    ...(chmod !== undefined ? { chmod: typeof chmod === 'number' ? () => chmod : chmod } : {}),
    mkdirAll: (p) => mkdirAllInRoot(destRoot, p, dirOwner),
  });
  return true;
}
