import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createGzip, type Gzip } from 'node:zlib';
import type { ContentWriter } from '../content/types.js';

/** Bytes gathered before one call into zlib / the content writer (fewer, larger calls are much faster). */
const COALESCE = 1 << 20;

export interface SinkResult {
  /** sha256 of the uncompressed stream. */
  diffID: string;
  /** sha256 of the bytes written to the content writer. */
  digest: string;
  size: number;
}

/**
 * Takes an uncompressed tar stream in chunks, hashes it (diffID), compresses it when asked, and hashes and
 * writes the result to a ContentWriter: one pass over the data. The caller commits or aborts the writer.
 */
export class LayerSink {
  private readonly diffHash = createHash('sha256');
  private readonly outHash = createHash('sha256');
  private outSize = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private readonly gzip: Gzip | undefined;
  private readonly gzipDone: Promise<void> | undefined;

  constructor(
    private readonly writer: ContentWriter,
    compression: 'gzip' | 'none',
    level: number,
  ) {
    if (compression === 'gzip') {
      this.gzip = createGzip({ level, chunkSize: 256 << 10 });
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
    const diffID = 'sha256:' + this.diffHash.digest('hex');
    // uncompressed: the blob is the tar, so its digest is the diffID (hashed once)
    const digest = this.gzip ? 'sha256:' + this.outHash.digest('hex') : diffID;
    return { diffID, digest, size: this.outSize };
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
    this.diffHash.update(buf); // one large update: hashing many small tar chunks costs far more
    if (!this.gzip) return this.emit(buf);
    if (!this.gzip.write(buf)) {
      // wait for drain, but fail fast if the compressed side failed
      await Promise.race([once(this.gzip, 'drain'), this.gzipDone!.then(() => {})]);
    }
  }

  private async emit(buf: Buffer): Promise<void> {
    if (this.gzip) this.outHash.update(buf);
    this.outSize += buf.byteLength;
    await this.writer.write(buf);
  }

  private async drainGzip(gz: Gzip): Promise<void> {
    for await (const c of gz) await this.emit(c as Buffer);
  }
}
