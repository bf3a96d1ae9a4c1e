/**
 * The tar of a tree (tar-tree.ts's format) written straight into a content-store ingest file descriptor
 * and hashed on the way, by one thread, synchronously: read a file's data into a reused 1 MiB chunk, hash
 * the chunk, write it. What an uncompressed layer costs when nothing else has to see its bytes: no chunk
 * per MiB (page faults), no hand-over between threads, no second hash in the content writer (the digest is
 * of exactly the bytes written; ContentWriter.direct). Runs on a tar worker (tar-worker.ts) or, for a
 * small tree or without a compiled worker script, on the main thread (tar-producer.ts).
 */
import { createHash } from 'node:crypto';
import { writeSync } from 'node:fs';
import { StoreError } from '../errors.js';
import { tarInto } from './tar-tree.js';

export interface TarFileResult {
  /** Bytes written. */
  size: number;
  /** sha256 of those bytes, hex. */
  hex: string;
  /** The whole tar when it was at most `keepUpTo` bytes. */
  small?: Buffer;
}

/**
 * Write the tar of `dir` at `fd`'s current offset; `aborted` is asked after every chunk (true: stop with
 * an ABORTED StoreError). Throws what the walk or the writes throw; the file then holds a partial tar.
 */
export function writeTarFile(dir: string, opaque: ReadonlySet<string>, fd: number, keepUpTo: number, aborted: () => boolean): TarFileResult {
  const hash = createHash('sha256');
  let size = 0;
  let kept: Buffer[] | undefined = keepUpTo > 0 ? [] : undefined;
  tarInto(dir, opaque, (chunk) => {
    if (aborted()) throw new StoreError('ABORTED', 'layer export aborted');
    hash.update(chunk);
    for (let off = 0; off < chunk.byteLength; ) off += writeSync(fd, chunk, off, chunk.byteLength - off);
    size += chunk.byteLength;
    // the chunk's buffer is reused: a small tar is kept as copies
    if (kept) kept = size <= keepUpTo ? (kept.push(Buffer.from(chunk)), kept) : undefined;
  });
  return { size, hex: hash.digest('hex'), ...(kept ? { small: Buffer.concat(kept, size) } : {}) };
}
