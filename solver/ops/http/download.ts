/**
 * http source (ADD <url>): the file is downloaded into the content store (verified against --checksum
 * when given), and the op's output is a snapshot holding only `/<filename>` (mode 0600, mtime from the
 * server's Last-Modified, else the Unix epoch so that equal downloads give equal layers).
 * Key facts: the checksum when given (no download needed to know the key), else the content's digest.
 */
import { chmod, lchown, utimes, copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DigestMismatchError, TsbuildError } from '../../../src/errors.js';
import type { ContentStore } from '../../../src/content/types.js';
import type { HttpSource } from '../../../src/llb/types.js';
import type { Snapshotter } from '../../../src/snapshot/types.js';
import { trustDeferredCAs } from '../../../src/tls/deferred-ca.js';
import { commitSnapshot, keyHex, tempKey } from '../commit.js';

export interface HttpDeps {
  content: ContentStore;
  snapshotter: Snapshotter;
}

export interface Download {
  digest: string;
  /** Seconds since the epoch (Last-Modified), or 0. */
  mtime: number;
}

/** Fetch `source.url` into the content store; checks `source.checksum`. */
export async function download(source: HttpSource, deps: HttpDeps, signal: AbortSignal): Promise<Download> {
  let res: Response;
  try {
    await trustDeferredCAs(); // NODE_EXTRA_CA_CERTS, deferred by bin/tsbuild
    res = await fetch(source.url, { signal, redirect: 'follow' });
  } catch (err) {
    if (signal.aborted) throw signal.reason ?? err;
    throw new TsbuildError('HTTP_FETCH_FAILED', `ADD ${source.url}: ${(err as Error).message}${(err as { cause?: Error }).cause ? ` (${(err as { cause: Error }).cause.message})` : ''}`, { cause: err });
  }
  if (!res.ok || !res.body) {
    throw new TsbuildError('HTTP_FETCH_FAILED', `ADD ${source.url}: the server answered ${res.status} ${res.statusText}`);
  }
  const w = await deps.content.writer();
  let info;
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) await w.write(chunk);
    info = await w.commit();
  } catch (err) {
    await w.abort().catch(() => {});
    throw err;
  }
  if (source.checksum !== undefined && info.digest !== source.checksum) {
    throw new DigestMismatchError(source.checksum, info.digest, `ADD ${source.url}`);
  }
  const lm = res.headers.get('last-modified');
  const t = lm ? Date.parse(lm) : NaN;
  return { digest: info.digest, mtime: Number.isFinite(t) ? Math.floor(t / 1000) : 0 };
}

/** Write the downloaded file into a fresh snapshot named after the cache key. */
export async function materializeDownload(source: HttpSource, d: Download, key: string, deps: HttpDeps, noCache: boolean): Promise<string> {
  const active = tempKey(`http:${keyHex(key).slice(0, 16)}`);
  await deps.snapshotter.prepare(active, undefined);
  try {
    const dir = await deps.snapshotter.layerDir(active);
    const file = join(dir, source.filename);
    await copyFile(deps.content.path(d.digest), file);
    await lchown(file, 0, 0);
    await chmod(file, 0o600);
    await utimes(file, d.mtime, d.mtime);
    return await commitSnapshot(deps.snapshotter, `op:${keyHex(key)}`, active, noCache);
  } catch (err) {
    await deps.snapshotter.remove(active).catch(() => {});
    throw err;
  }
}
