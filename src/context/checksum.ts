/**
 * Content digest of a COPY selection (see ./select.ts), the part of a COPY/ADD cache key that depends on
 * the files. It covers exactly what the copy would produce and nothing about where the files came from:
 * - per match: its name as it lands in the destination (a file or symlink match: its base name; a
 *   directory match: "" because its contents are copied), then every entry below it by relative path;
 * - per entry: type, permission bits (mode & 0o7777), content sha256 (files) or link text (symlinks),
 *   uid/gid only when `includeOwnership` (BuildKit zeroes them for the local context);
 * - never mtime, atime, inode or the source directory's own location.
 * So identical content copied from another directory gives the same digest.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync, readSync, type Stats } from 'node:fs';
import type { SourceSelection, SelectedEntry } from './select.js';
import type { StatCache } from './statcache.js';

const VERSION = 'tsbuild.copysel.v1';
const SMALL_FILE = 8 * 1024 * 1024;
/** As in statcache.ts: an entry changed this recently may change again without a visible stat change. */
const RACY_MS = 1000;
const CHUNK = 1024 * 1024;

export interface ChecksumOptions {
  /** Count uid/gid of the entries (stage → stage copies); off for the local context. */
  includeOwnership?: boolean;
  /** Reuse content hashes of files whose stat did not change. The caller flushes it. */
  statCache?: StatCache;
  /**
   * When given, one row per entry is pushed here (for explaining a cache miss): the entry's path relative to
   * the root it was selected from, and what the digest covers of it.
   */
  collect?: SelectionFile[];
}

/** [path relative to the source root, 'f' | 'l' | 'd', permission bits, content sha256 hex | link text | ''] */
export type SelectionFile = [string, 'f' | 'l' | 'd', number, string];

/** `sha256:<hex>` of the selection. */
export async function checksumSelection(selection: SourceSelection[], opts: ChecksumOptions = {}): Promise<string> {
  return (await checksumSelectionDetailed(selection, opts)).digest;
}

/**
 * The checksum, and (when computed file by file) what it covers. With a stat cache, a selection whose every
 * entry has the same path and stat as in an earlier build (its fingerprint) takes that build's checksum
 * without any per-file work; `files` is then absent (`opts.collect` stays empty).
 */
export async function checksumSelectionDetailed(
  selection: SourceSelection[],
  opts: ChecksumOptions = {},
): Promise<{ digest: string; files?: SelectionFile[] }> {
  const fp = opts.statCache ? fingerprint(selection, opts) : undefined;
  if (fp) {
    const known = opts.statCache!.selection(fp);
    if (known) return { digest: known };
  }
  const collect = opts.collect ?? [];
  const digest = computeChecksum(selection, { ...opts, collect });
  if (fp) opts.statCache!.storeSelection(fp, digest);
  return { digest, files: collect };
}

/**
 * sha256 of every entry's name and full stat (path, type, mode, owner, size, mtime, ctime, inode, device,
 * link text); undefined when an entry was modified too recently to be trusted (see statcache.ts).
 */
function fingerprint(selection: SourceSelection[], opts: ChecksumOptions, now = Date.now()): string | undefined {
  const h = createHash('sha256');
  h.update(`${VERSION}\0${opts.includeOwnership ? 1 : 0}\0`);
  for (const source of selection) {
    h.update(`s${source.matches.length}\0`);
    for (const match of source.matches) {
      h.update(`m${match.path}\0`);
      for (const e of match.entries) {
        const st = e.stat;
        if (now - st.mtimeMs < RACY_MS || now - st.ctimeMs < RACY_MS) return undefined;
        h.update(`${e.rel}\0${e.hostPath}\0${st.mode}\0${st.uid}\0${st.gid}\0${st.size}\0${st.mtimeMs}\0${st.ctimeMs}\0${st.ino}\0${st.dev}\0${e.linkTarget ?? ''}\n`);
      }
    }
  }
  return h.digest('hex');
}

function computeChecksum(selection: SourceSelection[], opts: ChecksumOptions): string {
  const h = createHash('sha256');
  h.update(`${VERSION}\n`);
  for (const source of selection) {
    h.update(`${JSON.stringify(['source', source.matches.length])}\n`);
    for (const match of source.matches) {
      const top = match.entries[0]!;
      const name = top.type === 'dir' ? '' : baseName(match.path, top.hostPath);
      for (const e of match.entries) {
        const rel = e.rel === '' ? name : e.rel;
        const rec = record(e, rel, opts);
        h.update(`${JSON.stringify(rec)}\n`);
        if (opts.collect) {
          const path = e.rel === '' ? match.path : match.path === '' ? e.rel : `${match.path}/${e.rel}`;
          opts.collect.push([path, rec[1] as 'f' | 'l' | 'd', rec[2] as number, e.type === 'dir' ? '' : String(rec.at(-1))]);
        }
      }
    }
  }
  return `sha256:${h.digest('hex')}`;
}

function record(e: SelectedEntry, rel: string, opts: ChecksumOptions): unknown[] {
  const st = e.stat;
  const owner = opts.includeOwnership ? [st.uid, st.gid] : [0, 0];
  const perm = st.mode & 0o7777;
  if (e.type === 'file') return [rel, 'f', perm, ...owner, st.size, fileHash(e.hostPath, st, opts.statCache)];
  if (e.type === 'symlink') return [rel, 'l', perm, ...owner, e.linkTarget ?? ''];
  return [rel, 'd', perm, ...owner];
}

/** sha256 hex of a file's content, through the stat cache when given. */
export function fileHash(hostPath: string, st: Stats, cache?: StatCache): string {
  const cached = cache?.lookup(hostPath, st);
  if (cached !== undefined) return cached;
  const hash = hashFileSync(hostPath, st.size);
  cache?.store(hostPath, st, hash);
  return hash;
}

function hashFileSync(hostPath: string, size: number): string {
  if (size <= SMALL_FILE) return createHash('sha256').update(readFileSync(hostPath)).digest('hex');
  const h = createHash('sha256');
  const fd = openSync(hostPath, 'r');
  try {
    const buf = Buffer.allocUnsafe(CHUNK);
    for (;;) {
      const n = readSync(fd, buf, 0, CHUNK, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

function baseName(named: string, hostPath: string): string {
  const p = named === '' ? hostPath : named;
  const i = p.lastIndexOf('/');
  return i < 0 ? p : p.slice(i + 1);
}
