/**
 * Import an image archive into the stores: an OCI layout tarball (index.json, blobs/sha256/*) or a
 * `docker save` archive (manifest.json with Config/RepoTags/Layers; old style `<id>/layer.tar` or
 * Docker 25+ blobs). Every blob is verified against its digest as it is written (the content store
 * refuses a mismatch), a Docker archive's layers against the config's diff_ids, and every blob a
 * manifest names must be present. Names are written only when all of that passed; on any failure the
 * blobs this load added are removed again, so nothing is half-imported.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { extract as tarExtract } from 'tar-stream';
import type { ContentStore } from '../content/types.js';
import { digestProblem } from '../content/digest.js';
import { DigestMismatchError, TsbuildError } from '../errors.js';
import { normalizeReference } from '../image/reference.js';
import { MediaType, type Descriptor, type ImageConfig, type Index, type Manifest } from '../image/types.js';
import type { ImageStore } from './types.js';
import { decompressStream } from '../diff/compress.js';

export interface LoadedImage {
  manifest: Descriptor;
  configDigest: string;
  names: string[];
}

const SMALL = 4 << 20;

export async function loadArchive(input: Readable, content: ContentStore, images: ImageStore, opts: { tags?: string[]; signal?: AbortSignal } = {}): Promise<LoadedImage[]> {
  const added: string[] = [];
  try {
    const { files, paths } = await readArchive(input, content, added, opts.signal);
    const loaded = files.has('manifest.json') ? await fromDocker(files, paths, content, added) : await fromOci(files, paths, content);
    if (loaded.length === 0) throw bad('it names no image');
    for (const im of loaded) await verifyPresent(im.manifest, content);
    if (opts.tags?.length) {
      if (loaded.length !== 1) throw new TsbuildError('USAGE', `the archive holds ${loaded.length} images; --tag needs exactly one`);
      loaded[0]!.names = opts.tags.map((t) => normalizeReference(t));
    }
    for (const im of loaded) for (const n of im.names) await images.put(n, im.manifest);
    return loaded;
  } catch (err) {
    for (const d of added) await content.delete(d).catch(() => {});
    if (err instanceof TsbuildError) throw err;
    throw new TsbuildError('LOAD_FAILED', `cannot load the archive: ${(err as Error).message}`, { cause: err });
  }
}

function bad(why: string): TsbuildError {
  return new TsbuildError('BAD_ARCHIVE', `not an image archive: ${why}`, { hint: 'tsbuild load reads `docker save` and OCI layout tarballs (tsbuild save writes both)' });
}

/** Stream the tar: blobs/sha256/<hex> into the store (verified), other big files too (by computed digest), small files kept. */
async function readArchive(input: Readable, content: ContentStore, added: string[], signal?: AbortSignal) {
  const files = new Map<string, Buffer>();
  /** Archive path → digest of a file written to the content store. */
  const paths = new Map<string, string>();
  const ex = tarExtract();
  const done = new Promise<void>((res, rej) => {
    ex.on('finish', () => res());
    ex.on('error', rej);
    input.on('error', rej);
  });
  let sawEntry = false;
  ex.on('entry', (header, stream, next) => {
    sawEntry = true;
    const name = header.name.replace(/^\.\//, '').replace(/^\/+/, '');
    const fail = (err: unknown) => {
      stream.resume();
      ex.destroy(err as Error);
    };
    if (signal?.aborted) return fail(signal.reason);
    if (header.type !== 'file') {
      stream.on('end', () => next());
      stream.resume();
      return;
    }
    const blob = /^blobs\/([^/]+)\/([^/]+)$/.exec(name);
    // An OCI layout blob is verified against the digest its path names: sha256 and sha512 only (./digest.ts).
    const problem = blob ? digestProblem(`${blob[1]}:${blob[2]}`) : undefined;
    if (problem !== undefined) return fail(bad(`${name}: ${problem}`));
    if (blob || (header.size ?? 0) > SMALL || /layer\.tar$/.test(name)) {
      const expected = blob ? `${blob[1]}:${blob[2]}` : undefined;
      void (async () => {
        const existed = expected ? await content.has(expected) : false;
        const info = await content.putStream(stream as AsyncIterable<Uint8Array>, { ...(expected ? { expected } : {}), size: header.size ?? 0 });
        if (expected && !existed) added.push(info.digest); // a file's digest known only now may have been there before: kept
        paths.set(name, info.digest);
      })().then(() => next(), (err) => fail(err instanceof DigestMismatchError ? new TsbuildError('DIGEST_MISMATCH', `${name} in the archive does not match its digest: ${err.message}`) : err));
      return;
    }
    const chunks: Buffer[] = [];
    stream.on('data', (c: unknown) => void chunks.push(c as Buffer));
    stream.on('end', () => {
      files.set(name, Buffer.concat(chunks));
      next();
    });
    stream.on('error', fail);
  });
  // a gzip-compressed archive (`docker save | gzip`) is read too
  const piped = pipeline(input, ungzipIfNeeded, ex as unknown as NodeJS.WritableStream);
  piped.catch(() => {}); // `done` reports the failure
  await Promise.all([done, piped]);
  if (!sawEntry) throw bad('it is empty or not a tar archive');
  return { files, paths };
}

async function* ungzipIfNeeded(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const it = source[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done) return;
  const rest = (async function* () {
    yield first.value;
    for (;;) {
      const n = await it.next();
      if (n.done) return;
      yield n.value;
    }
  })();
  const head = first.value;
  if (head[0] === 0x1f && head[1] === 0x8b) {
    const gz = createGunzip();
    const feeding = pipeline(Readable.from(rest), gz);
    for await (const c of gz) yield c as Buffer;
    await feeding;
  } else yield* rest;
}

function json<T>(files: Map<string, Buffer>, name: string): T {
  const b = files.get(name);
  if (!b) throw bad(`${name} is missing`);
  try {
    return JSON.parse(b.toString('utf8')) as T;
  } catch {
    throw bad(`${name} is not valid JSON`);
  }
}

async function fromOci(files: Map<string, Buffer>, _paths: Map<string, string>, content: ContentStore): Promise<LoadedImage[]> {
  if (!files.has('index.json')) throw bad('neither manifest.json (docker) nor index.json (OCI) is in it');
  const index = json<Index>(files, 'index.json');
  const out: LoadedImage[] = [];
  const visit = async (descs: Descriptor[], depth: number) => {
    for (const d of descs) {
      if (d.mediaType === MediaType.OciIndex || d.mediaType === MediaType.DockerManifestList) {
        if (depth > 2) throw bad('nested indexes are too deep');
        const inner = JSON.parse((await content.read(d.digest)).toString()) as Index;
        const linux = inner.manifests.filter((m) => !m.platform || m.platform.os === 'linux');
        await visit(linux.slice(0, 1), depth + 1);
        continue;
      }
      const m = JSON.parse((await content.read(d.digest)).toString()) as Manifest;
      const names: string[] = [];
      const full = d.annotations?.['io.containerd.image.name'];
      const refName = d.annotations?.['org.opencontainers.image.ref.name'];
      if (full) names.push(normalizeReference(full));
      else if (refName && /[/:]/.test(refName)) names.push(normalizeReference(refName));
      const existing = out.find((o) => o.manifest.digest === d.digest);
      if (existing) existing.names.push(...names.filter((n) => !existing.names.includes(n)));
      else out.push({ manifest: { mediaType: d.mediaType, digest: d.digest, size: d.size }, configDigest: m.config.digest, names });
    }
  };
  await visit(index.manifests ?? [], 0);
  return out;
}

async function fromDocker(files: Map<string, Buffer>, paths: Map<string, string>, content: ContentStore, added: string[]): Promise<LoadedImage[]> {
  const entries = json<{ Config: string; RepoTags?: string[] | null; Layers: string[] }[]>(files, 'manifest.json');
  if (!Array.isArray(entries)) throw bad('manifest.json is not a list');
  const index = files.has('index.json') ? json<Index>(files, 'index.json') : undefined;
  const out: LoadedImage[] = [];
  for (const e of entries) {
    const configBytes = files.get(e.Config) ?? (paths.has(e.Config) ? await content.read(paths.get(e.Config)!) : undefined);
    if (!configBytes) throw bad(`the config ${e.Config} is missing`);
    const configDigest = 'sha256:' + createHash('sha256').update(configBytes).digest('hex');
    const config = JSON.parse(configBytes.toString()) as ImageConfig;
    const diffIDs = config.rootfs?.diff_ids ?? [];
    if (diffIDs.length !== e.Layers.length) throw bad(`${e.Config} lists ${diffIDs.length} diff_ids but manifest.json ${e.Layers.length} layers`);
    const names = (e.RepoTags ?? []).map((t) => normalizeReference(t));
    // A Docker 25+ archive carries the OCI manifest too: keep it (and its digest) when it matches.
    const same = index ? await matchingManifest(index, configDigest, content) : undefined;
    if (same) {
      out.push({ manifest: same, configDigest, names });
      continue;
    }
    const layers: Descriptor[] = [];
    for (const [i, p] of e.Layers.entries()) {
      const digest = paths.get(p) ?? (files.has(p) ? (await content.put(files.get(p)!)).digest : undefined);
      if (!digest) throw bad(`the layer ${p} is missing`);
      const { kind, diffID } = await layerDiffID(content, digest);
      if (diffID !== diffIDs[i]) throw new TsbuildError('DIGEST_MISMATCH', `layer ${p} has diff ID ${diffID}, but the config says ${diffIDs[i]}`);
      const mediaType = kind === 'gzip' ? MediaType.OciLayerGzip : kind === 'zstd' ? MediaType.OciLayerZstd : MediaType.OciLayer;
      layers.push({ mediaType, digest, size: (await content.info(digest))!.size });
    }
    const cfg = await content.put(configBytes);
    const manifest: Manifest = { schemaVersion: 2, mediaType: MediaType.OciManifest, config: { mediaType: MediaType.OciConfig, digest: cfg.digest, size: cfg.size }, layers };
    const info = await content.put(Buffer.from(JSON.stringify(manifest)));
    out.push({ manifest: { mediaType: MediaType.OciManifest, digest: info.digest, size: info.size }, configDigest, names });
  }
  return out;
}

async function matchingManifest(index: Index, configDigest: string, content: ContentStore): Promise<Descriptor | undefined> {
  for (const d of index.manifests ?? []) {
    if (!(await content.has(d.digest))) continue;
    const m = JSON.parse((await content.read(d.digest)).toString()) as Manifest;
    if (m.config?.digest === configDigest) return { mediaType: d.mediaType, digest: d.digest, size: d.size };
  }
  return undefined;
}

/** The compression (by magic bytes) and the diff ID (sha256 of the uncompressed tar) of a layer blob. */
async function layerDiffID(content: ContentStore, digest: string): Promise<{ kind: 'gzip' | 'zstd' | 'uncompressed'; diffID: string }> {
  const head = (await readHead(content, digest)) ?? Buffer.alloc(0);
  const kind = head[0] === 0x1f && head[1] === 0x8b ? 'gzip' : head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528 ? 'zstd' : 'uncompressed';
  if (kind === 'uncompressed') return { kind, diffID: digest };
  const h = createHash('sha256');
  const d = decompressStream(kind);
  const src = content.createReadStream(digest);
  src.pipe(d);
  for await (const c of d) h.update(c as Buffer);
  return { kind, diffID: 'sha256:' + h.digest('hex') };
}

async function readHead(content: ContentStore, digest: string): Promise<Buffer | undefined> {
  for await (const c of content.createReadStream(digest)) return (c as Buffer).subarray(0, 4);
  return undefined;
}

async function verifyPresent(desc: Descriptor, content: ContentStore): Promise<void> {
  if (!(await content.has(desc.digest))) throw bad(`the manifest ${desc.digest} is missing`);
  const m = JSON.parse((await content.read(desc.digest)).toString()) as Manifest;
  for (const b of [m.config, ...(m.layers ?? [])]) {
    const info = await content.info(b.digest);
    if (!info) throw bad(`the blob ${b.digest} that the manifest names is missing`);
    if (info.size !== b.size) throw bad(`the blob ${b.digest} has ${info.size} bytes, the manifest says ${b.size}`);
  }
  const cfg = JSON.parse((await content.read(m.config.digest)).toString()) as ImageConfig;
  if ((cfg.rootfs?.diff_ids ?? []).length !== m.layers.length) throw bad(`the config has ${cfg.rootfs?.diff_ids?.length ?? 0} diff_ids for ${m.layers.length} layers`);
}
