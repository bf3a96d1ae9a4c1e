/**
 * The travelling cache's format, version 1 (documented in ARCHITECTURE.md "Cache that travels").
 *
 * One OCI image manifest (`application/vnd.oci.image.manifest.v1+json`) with
 * - `artifactType: application/vnd.tsbuild.cache.v1`,
 * - `config`: a JSON blob of media type `application/vnd.tsbuild.cache.config.v1+json` (the cache graph),
 * - `layers`: every layer blob the records name (OCI/Docker tar layer media types only).
 * The config: `{"version":1,"records":[{key, parent?, layer, diffID, created, name?}]}` where `key` is
 * tsbuild's own cache key of a step, `parent` the key of the step whose snapshot it sits on (its first
 * input; absent for a step on an empty rootfs), `layer` an index into the manifest's `layers` (so a record
 * can never name a blob outside its manifest), `diffID` the layer's uncompressed digest.
 * Optional `memo`: the exporting build's travelling rebuild memo (src/cli/travel-memo.ts), read only by the replay.
 * Optional `mounts: [{id, layer, diffID, mode, uid, gid}]` (`--cache-to …,cache-mounts=true`): the contents of
 * RUN --mount=type=cache directories by mount id, as a layer of the same manifest (root dir mode and owner apart).
 * The manifest is stored like any image (registry: under the cache ref's tag; a local dir: an OCI image
 * layout whose index.json names it), so any registry that stores images stores it.
 *
 * Everything read here is untrusted: sizes are capped, every field is checked, and an invalid document is a
 * CacheFormatError (the caller warns and goes on without that source).
 */
import { MediaType, type Descriptor, type Layer, type Manifest } from '../../image/types.js';
import { TsbuildError } from '../../errors.js';

export const CACHE_ARTIFACT_TYPE = 'application/vnd.tsbuild.cache.v1';
export const CACHE_CONFIG_MEDIA_TYPE = 'application/vnd.tsbuild.cache.config.v1+json';
export const CACHE_FORMAT_VERSION = 1;
/** Largest cache manifest / config accepted from a source. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
export const MAX_CONFIG_BYTES = 32 * 1024 * 1024;

const LAYER_TYPES = new Set<string>([MediaType.OciLayer, MediaType.OciLayerGzip, MediaType.OciLayerZstd, MediaType.DockerLayerGzip, 'application/vnd.docker.image.rootfs.diff.tar']);
const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

export interface CacheConfigRecord {
  key: string;
  parent?: string;
  layer: number;
  diffID: string;
  created: string;
  name?: string;
}

export interface CacheConfigMount {
  id: string;
  layer: number;
  diffID: string;
  mode: number;
  uid: number;
  gid: number;
}

export interface CacheConfig {
  version: number;
  records: CacheConfigRecord[];
  mounts?: CacheConfigMount[];
}

/** A cache mount's contents as a source offers them. */
export interface ImportedMount {
  id: string;
  layer: Layer;
  mode: number;
  uid: number;
  gid: number;
  source: string;
}

/** A step's result as a cache source offers it. */
export interface ImportedRecord {
  key: string;
  parent?: string;
  layer: Layer;
  created: string;
  name?: string;
  /** Which source offered it (as the user named it), for progress and --explain. */
  source: string;
}

export class CacheFormatError extends TsbuildError {
  constructor(message: string) {
    super('CACHE_FORMAT', message);
    this.name = 'CacheFormatError';
  }
}

function isDescriptor(d: unknown): d is Descriptor {
  const x = d as Descriptor;
  return !!x && typeof x === 'object' && typeof x.mediaType === 'string' && typeof x.digest === 'string' && DIGEST_RE.test(x.digest) && Number.isSafeInteger(x.size) && x.size >= 0;
}

/** Parse an image/cache manifest from a source and check its shape (size, JSON, config and layer descriptors). */
export function parseManifestShape(bytes: Buffer, what = 'cache manifest'): Manifest & { artifactType?: string } {
  if (bytes.length > MAX_MANIFEST_BYTES) throw new CacheFormatError(`the ${what} is too large (${bytes.length} bytes)`);
  let m: Manifest & { artifactType?: string };
  try {
    m = JSON.parse(bytes.toString('utf8')) as Manifest & { artifactType?: string };
  } catch {
    throw new CacheFormatError(`the ${what} is not JSON`);
  }
  if (!m || typeof m !== 'object' || m.schemaVersion !== 2) throw new CacheFormatError(`the ${what} is not an OCI image manifest`);
  if (!isDescriptor(m.config)) throw new CacheFormatError(`the ${what} has no valid config descriptor`);
  if (!Array.isArray(m.layers) || !m.layers.every(isDescriptor)) throw new CacheFormatError(`the ${what} has invalid layer descriptors`);
  for (const l of m.layers) if (!LAYER_TYPES.has(l.mediaType)) throw new CacheFormatError(`the ${what} names a blob of media type ${l.mediaType}, not a layer`);
  return m;
}

/** True for an image config media type (a manifest that may carry an inline cache). */
export function isImageConfigType(mediaType: string): boolean {
  return mediaType === MediaType.OciConfig || mediaType === MediaType.DockerConfig;
}

/** Parse and check a cache manifest. */
export function parseCacheManifest(bytes: Buffer): Manifest & { artifactType?: string } {
  if (bytes.length > MAX_MANIFEST_BYTES) throw new CacheFormatError(`the cache manifest is too large (${bytes.length} bytes)`);
  let m: Manifest & { artifactType?: string };
  try {
    m = JSON.parse(bytes.toString('utf8')) as Manifest & { artifactType?: string };
  } catch {
    throw new CacheFormatError('the cache manifest is not JSON');
  }
  if (!m || typeof m !== 'object' || m.schemaVersion !== 2) throw new CacheFormatError('the cache manifest is not an OCI image manifest');
  if (!isDescriptor(m.config)) throw new CacheFormatError('the cache manifest has no valid config descriptor');
  if (m.config.mediaType !== CACHE_CONFIG_MEDIA_TYPE) {
    throw new CacheFormatError(
      m.config.mediaType.startsWith('application/vnd.tsbuild.cache.')
        ? `unknown cache format ${m.config.mediaType} (this tsbuild reads ${CACHE_CONFIG_MEDIA_TYPE})`
        : `not a tsbuild cache (config media type ${m.config.mediaType})`,
    );
  }
  if (m.config.size > MAX_CONFIG_BYTES) throw new CacheFormatError(`the cache config is too large (${m.config.size} bytes)`);
  return parseManifestShape(bytes);
}

/** Parse the config blob of `manifest`, checked against it: key → record. */
export function parseCacheConfig(bytes: Buffer, manifest: Manifest, source: string): Map<string, ImportedRecord> {
  return parseCacheConfigFull(bytes, manifest, source).records;
}

/** The records (key → record) and cache mounts (id → contents) of a config blob, checked against its manifest. */
export function parseCacheConfigFull(bytes: Buffer, manifest: Manifest, source: string): { records: Map<string, ImportedRecord>; mounts: Map<string, ImportedMount> } {
  let c: CacheConfig;
  try {
    c = JSON.parse(bytes.toString('utf8')) as CacheConfig;
  } catch {
    throw new CacheFormatError('the cache config is not JSON');
  }
  return checkCacheConfig(c, manifest, source);
}

/** A parsed cache config (a config blob's, or an image config's inline field) checked against `manifest`. */
function checkCacheConfig(c: CacheConfig, manifest: Manifest, source: string): { records: Map<string, ImportedRecord>; mounts: Map<string, ImportedMount> } {
  if (!c || typeof c !== 'object' || Array.isArray(c)) throw new CacheFormatError('the cache config is not an object');
  if (c.version !== CACHE_FORMAT_VERSION) throw new CacheFormatError(`unknown cache format version ${JSON.stringify(c.version)} (this tsbuild reads version ${CACHE_FORMAT_VERSION})`);
  if (!Array.isArray(c.records)) throw new CacheFormatError('the cache config has no records');
  const out = new Map<string, ImportedRecord>();
  for (const r of c.records) {
    if (!r || typeof r !== 'object' || typeof r.key !== 'string' || !DIGEST_RE.test(r.key)) throw new CacheFormatError('a cache record has an invalid key');
    if (r.parent !== undefined && (typeof r.parent !== 'string' || !DIGEST_RE.test(r.parent))) throw new CacheFormatError(`cache record ${r.key}: invalid parent`);
    if (!Number.isSafeInteger(r.layer) || r.layer < 0 || r.layer >= manifest.layers.length) throw new CacheFormatError(`cache record ${r.key}: names a blob outside its manifest`);
    if (typeof r.diffID !== 'string' || !DIGEST_RE.test(r.diffID)) throw new CacheFormatError(`cache record ${r.key}: invalid diffID`);
    if (typeof r.created !== 'string' || Number.isNaN(Date.parse(r.created))) throw new CacheFormatError(`cache record ${r.key}: invalid created time`);
    const d = manifest.layers[r.layer]!;
    out.set(r.key, {
      key: r.key,
      ...(r.parent ? { parent: r.parent } : {}),
      layer: { descriptor: { mediaType: d.mediaType, digest: d.digest, size: d.size }, diffID: r.diffID },
      created: new Date(r.created).toISOString() === r.created ? r.created : new Date(r.created).toISOString(),
      ...(typeof r.name === 'string' ? { name: printable(r.name) } : {}),
      source,
    });
  }
  const mounts = new Map<string, ImportedMount>();
  if (c.mounts !== undefined && !Array.isArray(c.mounts)) throw new CacheFormatError('the cache config has invalid mounts');
  for (const m of c.mounts ?? []) {
    if (!m || typeof m.id !== 'string' || m.id === '' || m.id.length > 4096) throw new CacheFormatError('a cache mount has an invalid id');
    if (!Number.isSafeInteger(m.layer) || m.layer < 0 || m.layer >= manifest.layers.length) throw new CacheFormatError(`cache mount ${JSON.stringify(m.id)}: names a blob outside its manifest`);
    if (typeof m.diffID !== 'string' || !DIGEST_RE.test(m.diffID)) throw new CacheFormatError(`cache mount ${JSON.stringify(m.id)}: invalid diffID`);
    for (const f of ['mode', 'uid', 'gid'] as const) {
      if (!Number.isSafeInteger(m[f]) || m[f] < 0 || m[f] > (f === 'mode' ? 0o7777 : 0xffffffff)) throw new CacheFormatError(`cache mount ${JSON.stringify(m.id)}: invalid ${f}`);
    }
    const d = manifest.layers[m.layer]!;
    mounts.set(m.id, { id: m.id, layer: { descriptor: { mediaType: d.mediaType, digest: d.digest, size: d.size }, diffID: m.diffID }, mode: m.mode, uid: m.uid, gid: m.gid, source });
  }
  return { records: out, mounts };
}

/**
 * `--cache-to type=inline`: the image config's top-level field `tsbuild.cache.v1` carries the cache config of
 * the image's own chain (mode=min) as a JSON object `{"version":1,"records":[…]}` (records as above; `layer`
 * is an index into the image manifest's `layers`, whose diffID must be the config's `rootfs.diff_ids` at
 * that index; no mounts). BuildKit's `moby.buildkit.cache.v0` (base64 in the same place) is not read.
 */
export const INLINE_CACHE_FIELD = 'tsbuild.cache.v1';
export const MAX_IMAGE_CONFIG_BYTES = MAX_CONFIG_BYTES;

export function encodeInlineCache(records: CacheConfigRecord[]): CacheConfig {
  return { version: CACHE_FORMAT_VERSION, records };
}

/** The inline cache records of an image (its config bytes, checked against its manifest). */
export function parseInlineCache(configBytes: Buffer, manifest: Manifest, source: string): Map<string, ImportedRecord> {
  if (configBytes.length > MAX_IMAGE_CONFIG_BYTES) throw new CacheFormatError(`the image config is too large (${configBytes.length} bytes)`);
  let cfg: { [INLINE_CACHE_FIELD]?: CacheConfig; rootfs?: { diff_ids?: unknown } };
  try {
    cfg = JSON.parse(configBytes.toString('utf8')) as typeof cfg;
  } catch {
    throw new CacheFormatError('the image config is not JSON');
  }
  const inline = cfg?.[INLINE_CACHE_FIELD];
  if (inline === undefined) throw new CacheFormatError(`${source} is an image without an inline tsbuild cache (build it with --cache-to type=inline)`);
  const { records, mounts } = checkCacheConfig(inline, manifest, source);
  if (mounts.size) throw new CacheFormatError('an inline cache cannot carry cache mounts');
  const diffIDs = Array.isArray(cfg.rootfs?.diff_ids) ? (cfg.rootfs.diff_ids as unknown[]) : [];
  if (diffIDs.length !== manifest.layers.length) throw new CacheFormatError('the image config\'s rootfs does not match its manifest');
  for (const r of records.values()) {
    const i = inline.records.find((x) => x.key === r.key)!.layer;
    if (diffIDs[i] !== r.layer.diffID) throw new CacheFormatError(`cache record ${r.key}: its diffID is not the image's layer ${i}`);
  }
  return records;
}

/** Text from a cache source (a step name, a travelling memo's message), safe to print: no control characters, at most `max` characters. */
export function printable(s: string, max = 200): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ').slice(0, max);
}

/**
 * The manifest and config of a cache made of `records` whose layers are `layers` (by index); `memo`: the
 * travelling rebuild memo of the build that exported it (src/cli/travel-memo.ts; readers of the records ignore it).
 */
export function encodeCache(records: CacheConfigRecord[], layers: Descriptor[], mounts: CacheConfigMount[] = [], memo?: unknown): { config: Buffer; manifest: (config: Descriptor) => Buffer } {
  const config = Buffer.from(JSON.stringify({ version: CACHE_FORMAT_VERSION, records, ...(mounts.length ? { mounts } : {}), ...(memo !== undefined ? { memo } : {}) }));
  return {
    config,
    manifest: (cfg) =>
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MediaType.OciManifest,
          artifactType: CACHE_ARTIFACT_TYPE,
          config: cfg,
          layers,
        }),
      ),
  };
}
