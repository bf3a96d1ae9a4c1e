import type { Readable } from 'node:stream';

/**
 * ContentStore: immutable blobs addressed by digest (`sha256:<hex>`).
 *
 * Lifecycle of a write: `writer()` opens a file in the ingest area; bytes are appended and hashed;
 * `commit()` fsyncs, checks size and digest against what was expected, renames the file into
 * `blobs/sha256/<hex>` and fsyncs the directory. A failed or abandoned write leaves nothing under
 * blobs/ (ingest leftovers are removed by `cleanup()`). Committing a digest that already exists is
 * success. Readers therefore never see a partial blob.
 *
 * Layout under `root`: blobs/sha256/<hex>, ingest/<random>.
 */
export interface BlobInfo {
  digest: string;
  size: number;
}

export interface ContentWriter {
  write(chunk: Uint8Array): Promise<void>;
  /** Verify and move into place. Throws DigestMismatchError (and discards) on a mismatch. */
  commit(): Promise<BlobInfo>;
  /** Discard the partial write. Safe to call after commit (no-op). */
  abort(): Promise<void>;
  /**
   * Optional, before any write(): the ingest file's descriptor, for a producer that writes the whole blob
   * itself (synchronously, in order, from any thread of this process) and hashes exactly the bytes it
   * writes (src/diff/tar-file.ts: a layer's tar, which nothing else has to see). Afterwards write() refuses;
   * the producer's size and digest go to `written()` before commit(), which checks the size against the
   * file, fsyncs, checks `expected`, renames as for any blob. Undefined when the store cannot offer it.
   */
  direct?(): DirectWrite | undefined;
}

export interface DirectWrite {
  fd: number;
  /** The algorithm the digest given to `written` must use. */
  algorithm: 'sha256' | 'sha512';
  /** What the producer wrote: its byte count and the hex digest of exactly those bytes. */
  written(size: number, hex: string): void;
}

export interface WriterOptions {
  /** Expected digest; commit fails if the content differs. */
  expected?: string;
  /** Expected size in bytes; commit fails if it differs. */
  size?: number;
}

export interface ContentStore {
  readonly root: string;
  has(digest: string): Promise<boolean>;
  info(digest: string): Promise<BlobInfo | undefined>;
  /** Absolute path of a committed blob (for streaming readers and hard links). */
  path(digest: string): string;
  read(digest: string): Promise<Buffer>;
  createReadStream(digest: string): Readable;
  writer(opts?: WriterOptions): Promise<ContentWriter>;
  /** Write a whole buffer. */
  put(data: Uint8Array, opts?: WriterOptions): Promise<BlobInfo>;
  /** Write from a stream. */
  putStream(stream: AsyncIterable<Uint8Array>, opts?: WriterOptions): Promise<BlobInfo>;
  delete(digest: string): Promise<void>;
  /** Every committed blob. */
  list(): AsyncIterable<BlobInfo>;
  /** Remove abandoned ingest files. */
  cleanup(): Promise<void>;
}

/**
 * Getting a blob from where it lives when the store lacks it: a lazy blob (a base image layer resolved
 * without its layers, a `--cache-from` layer: `ensure`), or one the store lost or holds a corrupt copy of (a
 * crash, a manual cleanup, a damaged disk: `fetchAgain`). Implemented by src/content/fetch.ts (`BlobFetcher`:
 * the registry repositories a blob was pulled from or pushed to, the build's cache sources); the solver only
 * sees this.
 */
export interface BlobRecovery {
  /** Bring an absent blob into the store; nothing happens when no origin knows it; throws when every origin failed. */
  ensure(desc: { digest: string; size: number; mediaType?: string }, signal?: AbortSignal): Promise<void>;
  /** Replace the blob (a copy that is present is taken as corrupt and removed first); false when it cannot be fetched. */
  fetchAgain(desc: { digest: string; size: number; mediaType?: string }, signal?: AbortSignal): Promise<boolean>;
}
