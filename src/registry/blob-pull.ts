/**
 * Downloading one blob into the ContentStore: streamed through the store's verifying writer (digest and size
 * are checked before the blob becomes visible), resumed with a Range request after a dropped connection
 * when the registry supports it (206), restarted from zero when it does not, and following redirects to
 * blob storage (without our Authorization header).
 * A `tee` sees the same bytes as they arrive (a base layer unpacked while it downloads) and is committed only
 * after the blob verified and entered the store; it is best effort: when it fails, or the download restarts
 * from zero, it is aborted and the download goes on without it (the caller falls back to the stored blob).
 */
import { request } from './http.js';
import type { ContentStore, ContentWriter } from '../content/types.js';
import { DigestMismatchError, TsbuildError } from '../errors.js';
import type { Descriptor } from '../image/types.js';
import { repoScope } from './auth.js';
import { RegistryError } from './errors.js';
import { connectionDropped, errorFromResponse, isDroppedConnection, isTransientError, type RegistryResponse, type RegistryTransport } from './transport.js';

export interface BlobPullOptions {
  signal?: AbortSignal;
  /** Called with the bytes received so far. */
  onBytes?: (received: number, total: number) => void;
  tee?: BlobTee;
}

/** A second consumer of a blob's bytes while they download (see pullBlob). */
export interface BlobTee {
  /** The next bytes, in order, from the first; resolves when the consumer can take more. */
  write(chunk: Buffer): Promise<void>;
  /** The blob verified against its digest and is in the content store: finish the consumer's work. */
  commit(): Promise<void>;
  /** Throw away what was consumed (the download failed or restarted, or the consumer failed). */
  abort(): Promise<void>;
}

export async function pullBlob(t: RegistryTransport, path: string, desc: Descriptor, content: ContentStore, opts: BlobPullOptions = {}): Promise<void> {
  if (await content.has(desc.digest)) return void (await opts.tee?.abort().catch(() => {}));
  let w: ContentWriter = await content.writer({ expected: desc.digest, size: desc.size });
  let got = 0;
  let failures = 0;
  let tee = opts.tee;
  const dropTee = async () => {
    const t = tee;
    tee = undefined;
    await t?.abort().catch(() => {});
  };
  try {
    for (;;) {
      try {
        const res = await open(t, path, desc, got, opts.signal);
        if (got > 0 && res.statusCode !== 206) {
          // The registry ignored Range: start again.
          await w.abort();
          await dropTee();
          w = await content.writer({ expected: desc.digest, size: desc.size });
          got = 0;
        }
        for await (const chunk of res.body) {
          await w.write(chunk as Buffer);
          got += (chunk as Buffer).length;
          if (got > desc.size) throw new DigestMismatchError(desc.digest, `(more than ${desc.size} bytes)`, `blob ${desc.digest} from ${t.domain}/${path}`);
          if (tee) await tee.write(chunk as Buffer).catch(dropTee);
          opts.onBytes?.(got, desc.size);
        }
        await w.commit().catch((err) => {
          if (err instanceof DigestMismatchError) throw new DigestMismatchError(desc.digest, /got (\S+)/.exec(err.message)?.[1] ?? '?', `blob from ${t.domain}/${path}`);
          throw err;
        });
        if (tee) {
          const t = tee;
          tee = undefined;
          await t.commit().catch(() => t.abort().catch(() => {}));
        }
        return;
      } catch (err) {
        if (err instanceof TsbuildError) throw err; // the transport already retried what it could
        if (opts.signal?.aborted) throw opts.signal.reason;
        if (!isTransientError(err)) throw err;
        if (failures >= t.retries) throw isDroppedConnection(err) ? connectionDropped(t.domain, `blob ${desc.digest} of ${t.domain}/${path}`, failures + 1, err) : err;
        failures++;
        await t.backoff(failures, opts.signal);
      }
    }
  } finally {
    await w.abort();
    await dropTee();
  }
}

async function open(t: RegistryTransport, path: string, desc: Descriptor, from: number, signal?: AbortSignal): Promise<RegistryResponse> {
  const headers: Record<string, string> = {};
  if (from > 0) headers.range = `bytes=${from}-`;
  const req = {
    method: 'GET',
    path: `/v2/${path}/blobs/${desc.digest}`,
    headers,
    scopes: [repoScope(path, ['pull'])],
    accept: (s: number) => s === 200 || s === 206 || (s >= 300 && s < 400),
    ...(signal ? { signal } : {}),
  };
  let res = await t.send(req);
  for (let hops = 0; res.statusCode >= 300 && res.statusCode < 400; hops++) {
    const loc = res.headers.location;
    await res.body.dump();
    if (!loc || hops > 4) throw new RegistryError('REGISTRY_ERROR', `${t.domain}: blob ${desc.digest}: bad redirect`);
    const base = await t.baseUrl(signal);
    res = await request(new URL(String(loc), base + req.path), { method: 'GET', headers, ...(signal ? { signal } : {}) });
    if (res.statusCode !== 200 && res.statusCode !== 206 && !(res.statusCode >= 300 && res.statusCode < 400)) throw await errorFromResponse(t.domain, req, res);
  }
  return res;
}
