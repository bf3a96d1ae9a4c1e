/**
 * Pushing an image from the ContentStore: every blob is HEADed first and skipped when the registry has it;
 * a blob known to live in another repository of the same registry is mounted from there; otherwise it is
 * uploaded monolithically (one PUT with Content-Length) when small, or in chunks (PATCH with Content-Range,
 * then PUT) when large. Then the manifests are PUT with their media types: an index's children by digest,
 * the top-level manifest under each tag.
 */
import { binarySize } from '../units/bytes.js';
import { createReadStream } from 'node:fs';
import PQueue from 'p-queue';
import type { ContentStore } from '../content/types.js';
import { DigestMismatchError, TsbuildError } from '../errors.js';
import type { Descriptor, Index, Manifest } from '../image/types.js';
import type { ProgressSink } from '../progress/types.js';
import { byteProgress } from '../progress/bytes.js';
import { Transform, pipeline, type Readable } from 'node:stream';
import { mergeScopes, repoScope } from './auth.js';
import { RegistryError } from './errors.js';
import { isIndexType } from './manifest.js';
import type { BlobSources } from './sources.js';
import { isTransientError, type RegistryTransport } from './transport.js';

export interface PushOptions {
  content: ContentStore;
  progress?: ProgressSink;
  signal?: AbortSignal;
  sources?: BlobSources;
  /** Blobs up to this size go in one PUT; larger ones in chunks. Default 32 MiB. */
  monolithicMax?: number;
  /** Chunk size of chunked uploads; default 16 MiB. */
  chunkSize?: number;
  /** Blob uploads at once; default 4. */
  concurrency?: number;
  /** Called before a blob is uploaded (not when skipped or mounted): brings a lazy blob into `content`. */
  ensureBlob?: (d: Descriptor) => Promise<void>;
}

export interface PushStats {
  uploaded: number;
  skipped: number;
  mounted: number;
}

function header(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** Push `target` (manifest or index, with all it references in `content`) to `path` under each of `tags`. */
export async function pushImage(t: RegistryTransport, path: string, target: Descriptor, tags: string[], opts: PushOptions): Promise<PushStats> {
  const { content, signal } = opts;
  const manifests: Descriptor[] = [];
  const blobs = new Map<string, Descriptor>();
  const collect = async (d: Descriptor): Promise<void> => {
    const doc = JSON.parse((await content.read(d.digest)).toString('utf8')) as Manifest & Index;
    if (isIndexType(d.mediaType) || Array.isArray(doc.manifests)) {
      for (const child of doc.manifests) await collect(child);
    } else {
      blobs.set(doc.config.digest, doc.config);
      for (const l of doc.layers) blobs.set(l.digest, l);
    }
    if (d !== target) manifests.push(d);
  };
  await collect(target);

  // One scope set for the whole push: push+pull here, pull on every repository we may mount from.
  const mountFrom = new Map<string, string[]>();
  const extra: string[] = [];
  for (const d of blobs.values()) {
    const repos = (await opts.sources?.get(d.digest) ?? []).filter((s) => s.domain === t.domain && s.repository !== path).map((s) => s.repository);
    if (repos.length) mountFrom.set(d.digest, repos);
    for (const r of repos.slice(0, 1)) extra.push(repoScope(r, ['pull']));
  }
  const scopes = mergeScopes([repoScope(path, ['pull', 'push']), ...extra]);
  const stats: PushStats = { uploaded: 0, skipped: 0, mounted: 0 };
  const queue = new PQueue({ concurrency: opts.concurrency ?? 4 });
  const jobs = [...blobs.values()].map((d) => queue.add(() => pushBlobWithRetry(t, path, d, scopes, mountFrom.get(d.digest)?.[0], stats, opts)));
  const results = await Promise.allSettled(jobs);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;

  for (const m of manifests) await putManifest(t, path, m, m.digest, scopes, content, signal);
  for (const tag of tags) await putManifest(t, path, target, tag, scopes, content, signal);
  return stats;
}

async function putManifest(t: RegistryTransport, path: string, d: Descriptor, reference: string, scopes: string[], content: ContentStore, signal?: AbortSignal): Promise<void> {
  const bytes = await content.read(d.digest);
  const res = await t.send({
    method: 'PUT',
    path: `/v2/${path}/manifests/${reference}`,
    headers: { 'content-type': d.mediaType, 'content-length': String(bytes.length) },
    body: bytes,
    scopes,
    ...(signal ? { signal } : {}),
  });
  await res.body.dump();
  const got = header(res.headers['docker-content-digest']);
  if (got && got !== d.digest) throw new DigestMismatchError(d.digest, got, `manifest pushed to ${t.domain}/${path}:${reference}`);
}

async function pushBlobWithRetry(t: RegistryTransport, path: string, d: Descriptor, scopes: string[], mountRepo: string | undefined, stats: PushStats, opts: PushOptions): Promise<void> {
  for (let failures = 0; ; failures++) {
    try {
      const how = await pushBlob(t, path, d, scopes, mountRepo, opts);
      stats[how]++;
      await opts.sources?.add(d.digest, { domain: t.domain, repository: path });
      return;
    } catch (err) {
      if (opts.signal?.aborted) throw opts.signal.reason;
      if (err instanceof TsbuildError && !(err instanceof RegistryError && (err.status ?? 0) >= 500)) throw err;
      if (!(err instanceof TsbuildError) && !isTransientError(err)) throw err;
      if (failures >= t.retries) throw err;
      await t.backoff(failures + 1, opts.signal);
    }
  }
}

async function pushBlob(t: RegistryTransport, path: string, d: Descriptor, scopes: string[], mountRepo: string | undefined, opts: PushOptions): Promise<keyof PushStats> {
  const { content, signal, progress } = opts;
  const sig = signal ? { signal } : {};
  const head = await t.send({ method: 'HEAD', path: `/v2/${path}/blobs/${d.digest}`, scopes, accept: (s) => s === 200 || s === 404, ...sig });
  await head.body.dump();
  if (head.statusCode === 200) return 'skipped';

  const q = mountRepo ? `?mount=${encodeURIComponent(d.digest)}&from=${encodeURIComponent(mountRepo)}` : '';
  const start = await t.send({ method: 'POST', path: `/v2/${path}/blobs/uploads/${q}`, headers: { 'content-length': '0' }, scopes, accept: (s) => s === 201 || s === 202, ...sig });
  await start.body.dump();
  if (start.statusCode === 201) return 'mounted';
  let location = await absolute(t, header(start.headers.location), sig.signal);
  await opts.ensureBlob?.(d);

  const id = `push:${d.digest}`;
  const name = `pushing ${d.digest.slice(7, 19)} (${binarySize(d.size)})`;
  const at = Date.now();
  progress?.emit({ type: 'vertex.started', id, name, at });
  const file = content.path(d.digest);
  const onBytes = byteProgress(progress, id, name);
  /** The blob's bytes from `start` to `end`, counted into the step's progress as they go out. */
  const counted = (start?: number, end?: number): Readable => {
    const src = createReadStream(file, { ...(start !== undefined ? { start, end } : {}), highWaterMark: 1 << 20 });
    const base = start ?? 0;
    let here = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        here += chunk.length;
        onBytes(Math.min(d.size, base + here), d.size);
        cb(null, chunk);
      },
    });
    pipeline(src, tap, () => {});
    return tap;
  };
  const monolithicMax = opts.monolithicMax ?? 32 << 20;
  if (d.size <= monolithicMax) {
    const res = await t.send({
      method: 'PUT',
      path: withDigest(location, d.digest),
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(d.size) },
      body: () => counted(),
      scopes,
      noRetry: true,
      accept: (s) => s === 201,
      ...sig,
    });
    await res.body.dump();
  } else {
    const chunk = opts.chunkSize ?? 16 << 20;
    for (let off = 0; off < d.size; off += chunk) {
      const end = Math.min(d.size, off + chunk) - 1;
      const res = await t.send({
        method: 'PATCH',
        path: location,
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(end - off + 1), 'content-range': `${off}-${end}` },
        body: () => counted(off, end),
        scopes,
        noRetry: true,
        accept: (s) => s === 202,
        ...sig,
      });
      await res.body.dump();
      location = await absolute(t, header(res.headers.location) ?? location, sig.signal);
    }
    const res = await t.send({ method: 'PUT', path: withDigest(location, d.digest), headers: { 'content-length': '0' }, scopes, noRetry: true, accept: (s) => s === 201, ...sig });
    await res.body.dump();
  }
  progress?.emit({ type: 'vertex.done', id, name, at: Date.now(), durationMs: Date.now() - at });
  return 'uploaded';
}

async function absolute(t: RegistryTransport, loc: string | undefined, signal?: AbortSignal): Promise<string> {
  if (!loc) throw new RegistryError('REGISTRY_ERROR', `${t.domain}: the registry started an upload without a Location`);
  return new URL(loc, await t.baseUrl(signal)).toString();
}

function withDigest(location: string, digest: string): string {
  const u = new URL(location);
  u.searchParams.set('digest', digest);
  return u.toString();
}
