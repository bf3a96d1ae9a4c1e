/**
 * Writing an output file safely: a temp file next to dest, streamed, fsynced and renamed (a failed
 * export leaves no partial file; ENOSPC and EACCES become clear errors; the temp file is leased, see
 * src/fsutil/temp-lease.ts), or stdout for `dest=-`.
 * And a deterministic tar of buffers and store blobs (sorted by the caller; fixed metadata).
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { PassThrough, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pack as tarPack } from 'tar-stream';
import { TsbuildError } from '../errors.js';
import { fsyncDir, tempPathFor } from '../fsutil/atomic.js';
import { withTempLease } from '../fsutil/temp-lease.js';

export interface ArchiveEntry {
  /** Path in the tar; a directory ends in '/'. */
  name: string;
  data?: Buffer;
  /** A file to copy (a blob in the content store) of `size` bytes. */
  file?: string;
  size?: number;
}

/** Explain a write failure for a person. */
export function exportError(what: string, dest: string, err: unknown): TsbuildError {
  if (err instanceof TsbuildError) return err;
  const e = err as NodeJS.ErrnoException;
  const why =
    e.code === 'ENOSPC' ? 'no space left on device'
    : e.code === 'EACCES' || e.code === 'EPERM' ? 'permission denied'
    : e.code === 'EROFS' ? 'read-only file system'
    : e.code === 'ENOENT' ? 'no such directory'
    : e.code === 'EDQUOT' ? 'disk quota exceeded'
    : e.message;
  return new TsbuildError('EXPORT_FAILED', `cannot write ${what} ${dest}: ${why}`, { cause: err, hint: e.code === 'ENOSPC' ? 'free some space or write elsewhere (dest=…)' : undefined });
}

/**
 * Run `fn` with a stream to `dest` and make the file appear only when fn succeeded. `dest` "-" is
 * `stdout` (not closed).
 */
export async function withOutputFile(dest: string, what: string, fn: (out: Writable) => Promise<void>, stdout: NodeJS.WritableStream = process.stdout): Promise<string> {
  if (dest === '-') {
    const pt = new PassThrough({ highWaterMark: 1 << 20 });
    pt.pipe(stdout as Writable, { end: false });
    const ended = new Promise<void>((res, rej) => {
      pt.once('end', () => res());
      pt.once('error', rej);
    });
    await fn(pt);
    if (!pt.writableEnded) pt.end();
    await ended;
    return 'stdout';
  }
  const abs = resolve(dest);
  const tmp = tempPathFor(abs);
  return withTempLease(tmp, () => writeThroughTemp(abs, tmp, what, fn));
}

async function writeThroughTemp(abs: string, tmp: string, what: string, fn: (out: Writable) => Promise<void>): Promise<string> {
  try {
    const fh = await open(tmp, 'wx', 0o644); // fails early and cleanly when the dir is missing or read-only
    const out = createWriteStream('', { fd: fh.fd, autoClose: false });
    try {
      await fn(out);
      if (!out.writableFinished) {
        await new Promise<void>((res, rej) => {
          out.once('error', rej);
          out.end(() => res());
        });
      }
      await fh.sync();
    } finally {
      await fh.close().catch(() => {});
    }
    await rename(tmp, abs);
    await fsyncDir(dirname(abs));
    return abs;
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw exportError(what, abs, err);
  }
}

/** Write a tar of `entries` (in the given order) to `out`, and end `out`. */
export async function writeTar(out: Writable, entries: ArchiveEntry[], signal?: AbortSignal): Promise<void> {
  const pack = tarPack();
  const done = pipeline(pack as unknown as NodeJS.ReadableStream, out);
  done.catch(() => {}); // awaited below
  const header = (name: string, size: number, dir: boolean) => ({
    name,
    size,
    type: dir ? ('directory' as const) : ('file' as const),
    mode: dir ? 0o755 : 0o644,
    mtime: new Date(0),
    uid: 0,
    gid: 0,
    uname: '',
    gname: '',
  });
  try {
    for (const e of entries) {
      signal?.throwIfAborted();
      if (e.name.endsWith('/')) {
        await new Promise<void>((res, rej) => pack.entry(header(e.name, 0, true), (err) => (err ? rej(err) : res())));
      } else if (e.data) {
        await new Promise<void>((res, rej) => pack.entry(header(e.name, e.data!.length, false), e.data!, (err) => (err ? rej(err) : res())));
      } else {
        const entry = pack.entry(header(e.name, e.size!, false));
        await pipeline(createReadStream(e.file!, { highWaterMark: 1 << 20 }), entry as unknown as NodeJS.WritableStream);
      }
    }
    pack.finalize();
  } catch (err) {
    pack.destroy(err as Error);
    await done.catch(() => {});
    throw err;
  }
  await done;
}
