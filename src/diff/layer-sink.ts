import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { Duplex } from 'node:stream';
import type { ContentWriter } from '../content/types.js';
import { compressStream, SMALL_GZIP_BYTES } from './compress.js';

/** Bytes gathered before one call into zlib / the content writer (fewer, larger calls are much faster). */
const COALESCE = 1 << 20;
/** Writes to the content store in flight at once (the store keeps their order). */
const MAX_INFLIGHT = 4;

export interface SinkResult {
  /** sha256 of the uncompressed stream, for a compressed layer. An uncompressed layer's diffID is its blob
   * digest, which the content writer computes (it hashes what it stores): the sink does not hash it twice. */
  diffID?: string;
  size: number;
  /** An uncompressed layer of at most SMALL_GZIP_BYTES, when asked to keep it (`keepSmall`): its whole tar. */
  small?: Buffer;
}

/**
 * Takes an uncompressed tar stream in chunks, hashes it (diffID), compresses it when asked, and writes the
 * result to a ContentWriter (which hashes what it stores): one pass over the data. The caller commits or
 * aborts the writer.
 */
export class LayerSink {
  private readonly diffHash = createHash('sha256');
  private outSize = 0;
  private pending: Buffer[] = [];
  private inflight: Promise<void>[] = [];
  private writeError: unknown;
  private pendingBytes = 0;
  /** The compressor (zlib, pigz or zstd); undefined for an uncompressed layer. */
  private readonly gzip: Duplex | undefined;
  private readonly gzipDone: Promise<void> | undefined;

  /** The uncompressed bytes written so far while they fit in SMALL_GZIP_BYTES (`keepSmall`), else undefined. */
  private small: Buffer[] | undefined;

  constructor(
    private readonly writer: ContentWriter,
    compression: 'gzip' | 'zstd' | 'none',
    level: number | undefined,
    keepSmall = false,
  ) {
    if (keepSmall && compression === 'none') this.small = [];
    if (compression !== 'none') {
      this.gzip = compressStream(compression, level);
      this.gzipDone = this.drainGzip(this.gzip);
      this.gzipDone.catch(() => {}); // observed in finish() / write()
    }
  }

  /** Append uncompressed bytes. Resolves when it is safe to send more. */
  async write(chunk: Buffer): Promise<void> {
    this.pending.push(chunk);
    this.pendingBytes += chunk.byteLength;
    if (this.pendingBytes >= COALESCE) await this.flush();
  }

  async finish(): Promise<SinkResult> {
    await this.flush();
    if (this.gzip && this.gzipDone) {
      this.gzip.end();
      await this.gzipDone;
    }
    await this.settle();
    // uncompressed: the blob is the tar, so its digest (the writer's) is the diffID
    if (this.gzip) return { diffID: 'sha256:' + this.diffHash.digest('hex'), size: this.outSize };
    return this.small ? { size: this.outSize, small: Buffer.concat(this.small, this.outSize) } : { size: this.outSize };
  }

  /** Stop compressing (on error or abort). */
  destroy(err?: Error): void {
    this.gzip?.destroy(err);
  }

  private async flush(): Promise<void> {
    if (this.pendingBytes === 0) return;
    const buf = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    this.pending = [];
    this.pendingBytes = 0;
    if (!this.gzip) return this.emit(buf); // the writer's hash is the diffID
    this.diffHash.update(buf); // one large update: hashing many small tar chunks costs far more
    if (!this.gzip.write(buf)) {
      // wait for drain, but fail fast if the compressed side failed
      await Promise.race([once(this.gzip, 'drain'), this.gzipDone!.then(() => {})]);
    }
  }

  /** Hand `buf` to the writer; up to MAX_INFLIGHT writes run while the next bytes are produced. */
  private async emit(buf: Buffer): Promise<void> {
    if (this.writeError) throw this.writeError;
    this.outSize += buf.byteLength;
    // the sink's buffers are never reused (the writer copies or writes them as they are): kept by reference
    if (this.small) this.small = this.outSize <= SMALL_GZIP_BYTES ? (this.small.push(buf), this.small) : undefined;
    const w = this.writer.write(buf);
    w.catch((err) => (this.writeError ??= err));
    this.inflight.push(w);
    if (this.inflight.length > MAX_INFLIGHT) await this.inflight.shift();
  }

  /** Wait for every write handed to the writer. */
  private async settle(): Promise<void> {
    const all = this.inflight;
    this.inflight = [];
    await Promise.all(all);
  }

  private async drainGzip(gz: Duplex): Promise<void> {
    for await (const c of gz) await this.emit(c as Buffer);
  }
}
