import { pidAlive } from '../proc/alive.js';
import { createHash, randomBytes } from 'node:crypto';
import { inlineHasher, workerHasher, type StreamHasher } from './hasher.js';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { mkdir, open, readFile, readdir, rename, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { inSlices } from '../fsutil/in-slices.js';
import { DigestMismatchError, NotFoundError, StoreError } from '../errors.js';
import { fsyncDir } from '../fsutil/atomic.js';
import type { BlobInfo, ContentStore, ContentWriter, DirectWrite, WriterOptions } from './types.js';
import { DIGEST_ALGORITHMS, digestProblem, type DigestAlgorithm, type ParsedDigest } from './digest.js';

/**
 * Ingest file names: `<pid>-<threadId>-<random hex>`; pid and thread let cleanup() tell abandoned files
 * from live ones.
 */
const INGEST_RE = /^(\d+)-(\d+)-[a-f0-9]+$/;

/** Ingest files of writers still open in this process (cleanup() must not remove them). */
const liveIngest = new Set<string>();

/** sha256 or sha512 (./digest.ts); anything else is refused before any file is touched. */
function parse(digest: string): ParsedDigest {
  const problem = digestProblem(digest);
  if (problem !== undefined) throw new StoreError('BAD_DIGEST', `invalid digest "${digest.slice(0, 150)}": ${problem}`);
  const colon = digest.indexOf(':');
  return { algorithm: digest.slice(0, colon) as DigestAlgorithm, hex: digest.slice(colon + 1) };
}


function isENOENT(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === 'ENOENT';
}

/**
 * ContentStore on the local filesystem. Layout under `root`: blobs/sha256/<hex> (read-only files),
 * ingest/<pid>-<random>. See src/content/types.ts for the write lifecycle.
 */
/** Size of a writer's staging buffer: small chunks are coalesced into writes of this size. */
const STAGE_BYTES = 1 << 20;
/** Blobs expected to be at least this large (downloads) hash on a worker thread. */
const WORKER_HASH_MIN = 8 << 20;

export class LocalContentStore implements ContentStore {
  readonly root: string;
  private readonly ingestDir: string;

  constructor(root: string) {
    this.root = root;
    this.ingestDir = join(root, 'ingest');
  }

  /** blobs/<algorithm>/<hex> */
  private blobDir(algorithm: DigestAlgorithm): string {
    return join(this.root, 'blobs', algorithm);
  }

  path(digest: string): string {
    const { algorithm, hex } = parse(digest);
    return join(this.blobDir(algorithm), hex);
  }

  async has(digest: string): Promise<boolean> {
    return (await this.info(digest)) !== undefined;
  }

  async info(digest: string): Promise<BlobInfo | undefined> {
    return this.infoSync(digest);
  }

  /** One synchronous stat: a thread-pool round trip cost more (and listing the store does thousands: ../fsutil/in-slices.ts). */
  private infoSync(digest: string): BlobInfo | undefined {
    const st = statSync(this.path(digest), { throwIfNoEntry: false });
    return st ? { digest, size: st.size } : undefined;
  }

  async read(digest: string): Promise<Buffer> {
    try {
      return await readFile(this.path(digest));
    } catch (err) {
      if (isENOENT(err)) throw notFound(digest, err);
      throw err;
    }
  }

  /** Throws NotFoundError at once if the blob does not exist. */
  createReadStream(digest: string): Readable {
    const p = this.path(digest);
    if (!existsSync(p)) throw notFound(digest);
    return createReadStream(p, { highWaterMark: 1 << 20 });
  }

  async writer(opts: WriterOptions = {}): Promise<ContentWriter> {
    if (opts.expected !== undefined) parse(opts.expected);
    await mkdir(this.ingestDir, { recursive: true });
    const ingestPath = join(this.ingestDir, `${process.pid}-${threadId()}-${randomBytes(8).toString('hex')}`);
    liveIngest.add(ingestPath);
    let fh: FileHandle;
    try {
      fh = await open(ingestPath, 'wx', 0o644);
    } catch (err) {
      liveIngest.delete(ingestPath);
      throw err;
    }
    return new LocalWriter(this, fh, ingestPath, opts);
  }

  async put(data: Uint8Array, opts?: WriterOptions): Promise<BlobInfo> {
    // A whole buffer can be hashed first: a blob that is already committed needs no write at all
    // (e.g. the same config and manifest on an unchanged rebuild).
    const algorithm = opts?.expected !== undefined ? parse(opts.expected).algorithm : 'sha256';
    const digest = `${algorithm}:` + createHash(algorithm).update(data).digest('hex');
    if ((opts?.expected === undefined || opts.expected === digest) && (opts?.size === undefined || opts.size === data.length)) {
      const have = await this.info(digest);
      if (have && have.size === data.length) return have;
    }
    return this.putStream([data], opts);
  }

  async putStream(stream: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, opts?: WriterOptions): Promise<BlobInfo> {
    const w = await this.writer(opts);
    try {
      for await (const chunk of stream) await w.write(chunk);
      return await w.commit();
    } catch (err) {
      await w.abort();
      throw err;
    }
  }

  async delete(digest: string): Promise<void> {
    try {
      await unlink(this.path(digest));
    } catch (err) {
      if (isENOENT(err)) return;
      throw err;
    }
    await fsyncDir(this.blobDir(parse(digest).algorithm));
  }

  async *list(): AsyncIterable<BlobInfo> {
    for (const algorithm of Object.keys(DIGEST_ALGORITHMS) as DigestAlgorithm[]) {
      let names: string[];
      try {
        names = await readdir(this.blobDir(algorithm));
      } catch (err) {
        if (isENOENT(err)) continue;
        throw err;
      }
      names.sort();
      const digests = names.map((name) => `${algorithm}:${name}`).filter((d) => digestProblem(d) === undefined);
      for await (const info of inSlices(digests, (d) => this.infoSync(d))) if (info) yield info;
    }
  }

  /**
   * Remove ingest files whose writer is gone: those of dead processes, and those of this thread that
   * no open writer owns. Files of other live processes and threads are left alone (they may still commit).
   */
  async cleanup(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.ingestDir);
    } catch (err) {
      if (isENOENT(err)) return;
      throw err;
    }
    for (const name of names) {
      const p = join(this.ingestDir, name);
      const m = INGEST_RE.exec(name);
      if (m) {
        const pid = Number(m[1]);
        if (pid !== process.pid) {
          if (pidAlive(pid)) continue;
        } else if (Number(m[2]) !== threadId() || liveIngest.has(p)) {
          continue; // another thread of this process may still be writing it
        }
      }
      await unlink(p).catch((err) => {
        if (!isENOENT(err)) throw err;
      });
    }
  }

  /** @internal Move a verified ingest file into place. */
  async _commitFile(ingestPath: string, algorithm: DigestAlgorithm, hex: string): Promise<void> {
    const dir = this.blobDir(algorithm);
    await mkdir(dir, { recursive: true });
    // rename over an existing blob of the same digest is harmless: the content is identical.
    await rename(ingestPath, join(dir, hex));
    await fsyncDir(dir);
  }
}

class LocalWriter implements ContentWriter {
  /** Large expected blobs (downloads) hash on a worker thread; see hasher.ts. */
  private readonly hash: StreamHasher;
  /** The algorithm of `opts.expected` (sha256 when nothing is expected). */
  private readonly algorithm: DigestAlgorithm;
  private size = 0;
  private state: 'open' | 'committed' | 'aborted' = 'open';
  private chain: Promise<void> = Promise.resolve();
  private closed = false;
  private failed: unknown;

  constructor(
    private readonly store: LocalContentStore,
    private readonly fh: FileHandle,
    private readonly ingestPath: string,
    private readonly opts: WriterOptions,
  ) {
    this.algorithm = opts.expected !== undefined ? parse(opts.expected).algorithm : 'sha256';
    this.hash = opts.size !== undefined && opts.size >= WORKER_HASH_MIN ? workerHasher(this.algorithm) : inlineHasher(this.algorithm);
  }

  /** Set by direct(): the producer writes the file itself; `done` once it has reported what it wrote. */
  private directly: { done?: { size: number; hex: string } } | undefined;

  direct(): DirectWrite | undefined {
    if (this.state !== 'open' || this.directly || this.size > 0) return undefined;
    const directly: { done?: { size: number; hex: string } } = {};
    this.directly = directly;
    return {
      fd: this.fh.fd,
      algorithm: this.algorithm,
      written: (size, hex) => void (directly.done = { size, hex }),
    };
  }

  /**
   * Small chunks (a network read is often 16–64 KiB) are copied into a 1 MiB staging buffer and written
   * when it fills, so a blob costs few syscalls; the caller may reuse its chunk as soon as write() returns.
   * Chunks of 1 MiB or more are written directly. Writes are serialised so that callers keep their order.
   */
  write(chunk: Uint8Array): Promise<void> {
    if (this.state !== 'open') return Promise.reject(new StoreError('WRITER_CLOSED', `content writer already ${this.state}`));
    if (this.directly) return Promise.reject(new StoreError('WRITER_CLOSED', 'content writer is written directly'));
    if (this.failed) return Promise.reject(this.failed);
    this.size += chunk.byteLength;
    // More bytes than expected can never commit: stop now (an untrusted source may never end).
    if (this.opts.size !== undefined && this.size > this.opts.size) {
      this.failed = new StoreError('SIZE_MISMATCH', `content: more than the expected ${this.opts.size} bytes${this.opts.expected ? ` (digest ${this.opts.expected})` : ''}`);
      return Promise.reject(this.failed);
    }
    if (chunk.byteLength >= STAGE_BYTES) {
      this.flushStage();
      return this.enqueue(chunk);
    }
    let off = 0;
    while (off < chunk.byteLength) {
      const n = Math.min(chunk.byteLength - off, STAGE_BYTES - this.staged);
      this.stage.set(chunk.subarray(off, off + n), this.staged);
      this.staged += n;
      off += n;
      if (this.staged === STAGE_BYTES) this.flushStage();
    }
    return Promise.resolve();
  }

  private stage = Buffer.allocUnsafe(STAGE_BYTES);
  private staged = 0;

  /** Queue the staged bytes for writing and start a fresh staging buffer. */
  private flushStage(): void {
    if (this.staged === 0) return;
    const full = this.stage.subarray(0, this.staged);
    this.stage = Buffer.allocUnsafe(STAGE_BYTES);
    this.staged = 0;
    void this.enqueue(full, true).catch(() => {});
  }

  /** Write `buf`, then hash it (in order); `owned`: the buffer is ours and may be handed to the hasher. */
  private enqueue(buf: Uint8Array, owned = false): Promise<void> {
    const next = this.chain.then(async () => {
      if (this.failed) throw this.failed;
      let off = 0;
      while (off < buf.byteLength) {
        const { bytesWritten } = await this.fh.write(buf, off, buf.byteLength - off);
        off += bytesWritten;
      }
      this.hash.update(buf, owned);
    });
    this.chain = next.catch((err) => {
      this.failed ??= err;
    });
    return next;
  }

  async commit(): Promise<BlobInfo> {
    if (this.state !== 'open') throw new StoreError('WRITER_CLOSED', `content writer already ${this.state}`);
    try {
      let hex: string;
      if (this.directly) {
        const done = this.directly.done;
        if (!done) throw new StoreError('WRITER_INCOMPLETE', 'content writer: a direct write reported nothing');
        this.size = done.size;
        // the producer's count against the file: a short or stray write never commits
        const { size } = await this.fh.stat();
        if (size !== done.size) throw new StoreError('SIZE_MISMATCH', `content: the producer wrote ${done.size} bytes, the file holds ${size}`);
        await this.fh.sync();
        await this.close();
        this.hash.dispose();
        hex = done.hex;
      } else {
        this.flushStage();
        await this.chain;
        if (this.failed) throw this.failed;
        await this.fh.sync();
        await this.close();
        hex = await this.hash.digest();
      }
      const digest = `${this.algorithm}:${hex}`;
      if (this.opts.size !== undefined && this.opts.size !== this.size) {
        throw new StoreError('SIZE_MISMATCH', `content: expected ${this.opts.size} bytes, got ${this.size} (digest ${digest})`);
      }
      if (this.opts.expected !== undefined && this.opts.expected !== digest) {
        throw new DigestMismatchError(this.opts.expected, digest);
      }
      await this.store._commitFile(this.ingestPath, this.algorithm, hex);
      this.state = 'committed';
      liveIngest.delete(this.ingestPath);
      return { digest, size: this.size };
    } catch (err) {
      await this.abort();
      throw err;
    }
  }

  async abort(): Promise<void> {
    if (this.state === 'committed') return;
    this.state = 'aborted';
    await this.chain.catch(() => {});
    this.hash.dispose();
    await this.close().catch(() => {});
    await unlink(this.ingestPath).catch(() => {});
    liveIngest.delete(this.ingestPath);
  }

  private async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.fh.chmod(0o444);
    } finally {
      await this.fh.close();
    }
  }
}

function notFound(digest: string, cause?: unknown): NotFoundError {
  return new NotFoundError('BLOB_NOT_FOUND', `blob ${digest} not found in the content store`, cause !== undefined ? { cause } : {});
}

/** This thread's id (worker_threads is loaded only when a blob is written or cleaned: it costs startup time). */
function threadId(): number {
  return process.getBuiltinModule('node:worker_threads').threadId;
}
