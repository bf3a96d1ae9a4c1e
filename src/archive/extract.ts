/**
 * ADD's tar extraction into a directory of a rootfs, never escaping the rootfs.
 *
 * Every entry name is cleaned (leading "/" dropped, `..` clamped at the extraction directory, as Docker's
 * untar does) and resolved with chroot semantics (src/fsutil/scoped.ts): a symlink in the rootfs, or one
 * an earlier entry made, is followed only inside the rootfs, and the entry's own final component is never
 * followed. A hard link must name a regular file inside the rootfs. Device nodes and fifos are skipped.
 * Ownership and mode come from the archive unless `chown` / `chmod` is given; mtimes are kept.
 */
import { createWriteStream, lchownSync, chmodSync, linkSync, lstatSync, lutimesSync, mkdirSync, rmSync, symlinkSync, unlinkSync, type Stats } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { ContextError } from '../errors.js';
import { resolveInRootSync } from '../fsutil/scoped.js';
import { cleanSlashPath } from '../fsutil/slashpath.js';
import { decompressedStream, type Compression } from './detect.js';

export interface ExtractOptions {
  /** Host path of the rootfs. */
  root: string;
  /** Absolute path in the rootfs of the directory to extract into (created if missing). */
  dir: string;
  chown?: { uid: number; gid: number };
  /** Mode for every extracted file and directory: a number, or a function of the archive's mode. */
  chmod?: (mode: number, isDir: boolean) => number;
  /** Creates the directory `dir` (and parents) in the rootfs; returns its host path. */
  mkdirAll: (path: string) => string;
}

export async function extractArchive(file: string, compression: Compression, opts: ExtractOptions): Promise<void> {
  const dirPath = cleanSlashPath(`/${opts.dir}`);
  opts.mkdirAll(dirPath);
  const dirTimes: Array<[string, Date]> = [];
  const extract = tar.extract();
  const source = decompressedStream(file, compression);
  const done = pipeline(source, extract).catch((err) => {
    throw new ContextError('ARCHIVE_INVALID', `cannot unpack ${file.slice(file.lastIndexOf('/') + 1)}: ${(err as Error).message}`, { cause: err });
  });
  try {
    await writeEntries(extract, opts, dirPath, dirTimes);
  } catch (err) {
    extract.destroy();
    source.destroy();
    await done.catch(() => {});
    if (err instanceof ContextError) throw err;
    throw new ContextError('ARCHIVE_INVALID', `cannot unpack ${file.slice(file.lastIndexOf('/') + 1)}: ${(err as Error).message}`, { cause: err });
  }
  await done;
  for (let i = dirTimes.length - 1; i >= 0; i--) lutimesSync(dirTimes[i]![0], dirTimes[i]![1], dirTimes[i]![1]);
}

async function writeEntries(extract: tar.Extract, opts: ExtractOptions, dirPath: string, dirTimes: Array<[string, Date]>): Promise<void> {
  for await (const entry of extract) {
    const h = entry.header;
    // Docker: names relative to the extraction dir; ".." never climbs above it.
    const rel = cleanSlashPath(`/${h.name}`);
    if (rel === '/') {
      entry.resume();
      continue;
    }
    const path = dirPath === '/' ? rel : `${dirPath}${rel}`;
    const parent = path.slice(0, path.lastIndexOf('/')) || '/';
    opts.mkdirAll(parent);
    const host = resolveInRootSync(opts.root, path, { followFinal: false });
    const owner = opts.chown ?? { uid: h.uid ?? 0, gid: h.gid ?? 0 };
    const mode = (isDir: boolean): number => (opts.chmod ? opts.chmod((h.mode ?? (isDir ? 0o755 : 0o644)) & 0o7777, isDir) : (h.mode ?? (isDir ? 0o755 : 0o644)) & 0o7777);
    const mtime = h.mtime ?? new Date(0);
    const existing = tryLstat(host);
    switch (h.type) {
      case 'directory': {
        if (existing && !existing.isDirectory()) unlinkSync(host);
        if (!existing || !existing.isDirectory()) mkdirSync(host);
        lchownSync(host, owner.uid, owner.gid);
        chmodSync(host, mode(true));
        dirTimes.push([host, mtime]);
        entry.resume();
        break;
      }
      case 'file':
      case 'contiguous-file': {
        removeExisting(host, existing);
        await pipeline(entry, createWriteStream(host, { flags: 'wx', mode: 0o600 }));
        lchownSync(host, owner.uid, owner.gid);
        chmodSync(host, mode(false));
        lutimesSync(host, mtime, mtime);
        break;
      }
      case 'symlink': {
        removeExisting(host, existing);
        symlinkSync(h.linkname ?? '', host);
        lchownSync(host, owner.uid, owner.gid);
        lutimesSync(host, mtime, mtime);
        entry.resume();
        break;
      }
      case 'link': {
        const targetRel = cleanSlashPath(`/${h.linkname ?? ''}`);
        const target = resolveInRootSync(opts.root, dirPath === '/' ? targetRel : `${dirPath}${targetRel}`, { followFinal: false });
        if (!tryLstat(target)?.isFile()) {
          entry.resume();
          throw new ContextError('ARCHIVE_INVALID', `cannot unpack ${h.name}: hard link to ${h.linkname} which is not a file extracted before it`);
        }
        removeExisting(host, existing);
        linkSync(target, host);
        entry.resume();
        break;
      }
      default:
        entry.resume(); // device nodes, fifos, pax/gnu metadata entries
    }
  }
}

function removeExisting(host: string, st: Stats | undefined): void {
  if (!st) return;
  if (st.isDirectory()) rmSync(host, { recursive: true, force: true });
  else unlinkSync(host);
}

function tryLstat(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}
