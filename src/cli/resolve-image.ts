/**
 * A build's base images: from the local store when it has them, from the registry otherwise.
 * - not in the store, or --pull: pull (manifests, config, layers) and name it in the store; `lazy`: the
 *   manifests and config only, each layer recorded in `registry/sources` as living in the image's
 *   repository, and fetched when something needs its bytes (`BlobFetcher.ensure`, src/content/fetch.ts: the
 *   solver's unpack, an output that writes layer bytes, a push that cannot mount it);
 * - in the store and pulled from a registry before: one HEAD per build; the store's copy is reused when the
 *   digest is unchanged, pulled again when the tag moved, used with a warning when the registry cannot
 *   answer, and an error when it answers 4xx (the tag is gone, access refused: BuildKit fails too). The
 *   HEAD is first tried bare (./tag-check.ts: node:http, no credentials) at the address the
 *   registry answered on last time (`registry/pulled`), so that an unchanged base costs one request and no
 *   registry client; anything but an answer with the same digest goes to the registry client as before, and
 *   a registry where a bare HEAD cannot tell (a 401, a private CA) is marked to skip it from then on;
 * - in the store and never pulled (built or tagged here), or pinned by digest: used as is, no network.
 * The store's copy is checked where it is read anyway: the manifest and config are hashed (small), the layer
 * blobs stat-ed; an absent layer a registry is known to have (`sources`) is not damage: it is lazy. A pulled
 * image with missing or corrupt blobs is pulled again by digest (the same image), with one warning; one that
 * was not pulled cannot be repaired here: the error names `tsbuild doctor --fix`.
 */
import { NotFoundError, StoreError, TsbuildError } from '../errors.js';
import { normalizeReference, parseReference, type ParsedReference } from '../image/reference.js';
import { formatPlatform, selectPlatform } from '../image/platform.js';
import type { ContentStore } from '../content/types.js';
import { digestOf, isVerifiableDigest, parseDigest } from '../content/digest.js';
import type { ImageStore } from '../imagestore/types.js';
import type { ImageConfig, Index, Manifest, Platform } from '../image/types.js';
import type { ProgressSink } from '../progress/types.js';
import { RegistryError } from '../registry/errors.js';
import type { PulledRecord, PulledRecords } from '../registry/pulled.js';
import type { BlobSources } from '../registry/sources.js';
import type { PullOptions } from '../registry/pull.js';
import type { RegistryClient } from '../registry/client.js';
import { headTag, type TagCheck } from './tag-check.js';
import { isInsecure } from '../registry/insecure.js';

/**
 * A resolved base image. `check`: the tag the next build will HEAD again (pulled from a registry by tag), with
 * what it pointed to, for the rebuild memo; `unchecked`: the registry should have been asked and could not be.
 */
export interface BaseImage {
  ref: string;
  digest: string;
  config: ImageConfig;
  check?: TagCheck;
  unchecked?: true;
}

export interface BaseImageDeps {
  content: ContentStore;
  images: ImageStore;
  /** Made on first use: images built locally never load the registry client (or touch the network). */
  client: () => Promise<RegistryClient>;
  pulled: PulledRecords;
  platform: Platform;
  progress: ProgressSink;
  /** --pull: always ask the registry. */
  pull: boolean;
  signal?: AbortSignal;
  /** Unpacks layers while they download (build.ts passes the solver's unpackWhilePulling); not with `lazy`. */
  tee?: PullOptions['tee'];
  /** Where blobs are known to live (`registry/sources`): a pull records its layers there; an absent layer known there is lazy, not damaged. */
  sources?: BlobSources;
  /** Pull manifests and config only: the layers are fetched when needed (build.ts: a build with --cache-from). */
  lazy?: boolean;
  /** --insecure-registry names (TLS not verified), for the bare HEAD. */
  insecure?: string[];
}

export async function resolveBaseImage(ref: string, deps: BaseImageDeps): Promise<BaseImage> {
  const { content, images, client, pulled, progress } = deps;
  const name = normalizeReference(ref);
  const parsed = parseReference(ref);
  const rec = await images.get(name);
  let pullRef = parsed;
  let damaged: string[] = [];
  if (rec && !deps.pull) {
    const from = await pulled.get(name);
    const pulledHere = from !== undefined && from.digest === rec.target.digest;
    const found = await local(name, rec.target.digest, content, deps.platform, deps.sources);
    if ('absent' in found && pulledHere) {
      // Another platform of a pulled index: its manifest was never fetched. The same index, this platform.
      pullRef = { ...parsed, digest: rec.target.digest };
    } else if ('absent' in found) {
      throw unrecoverable(name, [found.absent], 'it was not pulled from a registry');
    } else if ('damaged' in found) {
      damaged = found.damaged;
      if (!pulledHere) throw unrecoverable(name, damaged, 'it was not pulled from a registry');
      progress.emit({ type: 'warning', message: `${name}: ${damaged.length} blob${damaged.length === 1 ? '' : 's'} missing or corrupt in the local store (${short(damaged)}): fetching the image again from its registry` });
      for (const d of damaged) await content.delete(d).catch(() => {}); // a corrupt copy would count as present
      pullRef = { ...parsed, digest: rec.target.digest }; // the same image, even if the tag moved
    } else {
      if (parsed.digest !== undefined || !pulledHere) return found;
      const bare = await bareCheck(from, parsed, deps);
      if (bare) return { ...found, check: bare };
      try {
        const c = await client();
        const head = await c.resolve(parsed, deps.signal);
        // resolve() answers a 404 with undefined: the registry says the tag is gone (see couldNotAnswer).
        if (!head) throw new RegistryError('IMAGE_NOT_FOUND', `${name}: manifest not found in the registry (the tag is gone since the image was pulled; the copy in the local store is not used)`, { status: 404 });
        if (head.digest === rec.target.digest) {
          // A registry where a bare HEAD cannot tell: the rebuild memo's check goes to the client directly too.
          const check = { ...(await tagCheck(c, name, parsed, head.digest, deps.signal)), ...(bare === false ? { bare: false as const } : {}) };
          // The address for the next build's bare HEAD: learned, or moved (http ↔ https); a record marked bare:false stays so.
          if (from.bare === undefined && from.base !== check.base) await pulled.put(name, from.digest, { base: check.base }, from.pulledAt).catch(() => {});
          return { ...found, check };
        }
      } catch (err) {
        if (!couldNotAnswer(err)) throw err;
        progress.emit({ type: 'warning', message: `${name}: cannot check the registry (${err.message}); using the image in the local store` });
        return { ...found, unchecked: true };
      }
    }
  }
  const id = `pull:${name}`;
  const at = Date.now();
  progress.emit({ type: 'vertex.started', id, name: `pulling ${name}`, at });
  try {
    const c = await client();
    const img = await c.pull(pullRef, {
      content,
      platform: deps.platform,
      ...(deps.signal ? { signal: deps.signal } : {}),
      ...(deps.lazy ? { layers: false } : deps.tee ? { tee: deps.tee } : {}),
    });
    const out: BaseImage = { ref: name, digest: img.target.digest, config: img.config };
    // Pulled by tag: the next build HEADs that tag. A pin, or a repair by digest after the tag moved, is not a tag check.
    if (parsed.digest === undefined && pullRef.digest === undefined) out.check = await tagCheck(c, name, parsed, img.target.digest, deps.signal);
    else if (parsed.digest === undefined) out.unchecked = true;
    await images.put(name, img.target);
    await pulled.put(name, img.target.digest, out.check ? { base: out.check.base } : {});
    progress.emit({ type: 'vertex.done', id, name: `pulling ${name}`, at: Date.now(), durationMs: Date.now() - at });
    return out;
  } catch (err) {
    progress.emit({ type: 'vertex.failed', id, name: `pulling ${name}`, at: Date.now(), error: err instanceof Error ? err.message : String(err) });
    if (damaged.length) throw unrecoverable(name, damaged, `the registry cannot give them back (${err instanceof Error ? err.message : String(err)})`);
    if (rec && couldNotAnswer(err)) {
      progress.emit({ type: 'warning', message: `${name}: cannot pull (${err.message}); using the image in the local store` });
      const found = await local(name, rec.target.digest, content, deps.platform, deps.sources);
      if ('damaged' in found) throw unrecoverable(name, found.damaged, 'the registry cannot be reached');
      if ('absent' in found) throw unrecoverable(name, [found.absent], 'the registry cannot be reached');
      return { ...found, unchecked: true };
    }
    if (err instanceof TsbuildError) throw err;
    // Not a TsbuildError: nothing says the image does not exist, so this is not a NotFoundError.
    throw new TsbuildError('IMAGE_PULL_FAILED', `${name}: pull failed: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * The registry could not answer (no response, or a 5xx): the image in the store is used, with a warning, when
 * checking its tag or pulling it again. A 4xx is an answer (the tag is gone, access is refused): the build
 * fails, as BuildKit's does. One rule for both.
 */
function couldNotAnswer(err: unknown): err is RegistryError {
  return err instanceof RegistryError && !(err.status !== undefined && err.status < 500);
}

/**
 * The tag checked with one bare HEAD where its registry answered last time: the check when the tag still
 * names the record's digest; false when a bare HEAD can never tell at this registry (recorded: the record
 * says so from then on); undefined when the registry client must ask this time (no address known, the tag
 * moved, no answer).
 */
async function bareCheck(rec: PulledRecord, parsed: ParsedReference, deps: BaseImageDeps): Promise<TagCheck | false | undefined> {
  if (rec.base === undefined) return undefined;
  const check: TagCheck = { name: rec.name, domain: parsed.domain, path: parsed.path, tag: parsed.tag ?? 'latest', digest: rec.digest, base: rec.base, insecure: isInsecure(parsed.domain, { insecure: deps.insecure ?? [] }), ...(rec.bare === false ? { bare: false as const } : {}) };
  const state = await headTag(check, deps.signal);
  if (state.state === 'fresh') return check;
  if (state.state !== 'unknown' || !state.always) return undefined;
  if (rec.bare !== false) await deps.pulled.put(rec.name, rec.digest, { base: rec.base, bare: false }, rec.pulledAt).catch(() => {});
  return false;
}

/** What the rebuild memo checks instead of this build's HEAD: see ./tag-check.ts. */
async function tagCheck(c: RegistryClient, name: string, parsed: ParsedReference, digest: string, signal?: AbortSignal): Promise<TagCheck> {
  return { name, domain: parsed.domain, path: parsed.path, tag: parsed.tag ?? 'latest', digest, ...(await c.address(parsed.domain, signal)) };
}

type Found = { ref: string; digest: string; config: ImageConfig } | { damaged: string[] } | { absent: string };

/**
 * The image as the store has it, or the digests of its blobs that are missing or corrupt. A layer that is
 * absent but that `sources` knows a registry repository for is lazy (fetched when needed), not missing.
 */
async function local(name: string, digest: string, content: ContentStore, platform: Platform, sources?: BlobSources): Promise<Found> {
  const json = async <T>(d: string): Promise<T | undefined> => {
    const bytes = await content.read(d).catch(() => undefined);
    if (!bytes || !isVerifiableDigest(d) || digestOf(bytes, parseDigest(d).algorithm) !== d) return undefined;
    try {
      return JSON.parse(bytes.toString('utf8')) as T;
    } catch {
      return undefined;
    }
  };
  let doc = await json<Manifest & Index>(digest);
  if (!doc) return { damaged: [digest] };
  if (Array.isArray(doc.manifests)) {
    const pick = selectPlatform(doc.manifests, platform);
    if (!pick) throw new NotFoundError('IMAGE_PLATFORM_NOT_FOUND', `${name} has no manifest for ${formatPlatform(platform)}`);
    if (!(await content.has(pick.digest))) return { absent: pick.digest };
    doc = await json<Manifest & Index>(pick.digest);
    if (!doc) return { damaged: [pick.digest] };
  }
  const config = await json<ImageConfig>(doc.config.digest);
  const missing = [];
  for (const l of doc.layers ?? []) if (!(await content.has(l.digest)) && !(sources && (await sources.get(l.digest)).length > 0)) missing.push(l.digest);
  if (!config) missing.unshift(doc.config.digest);
  if (missing.length || !config) return { damaged: missing };
  return { ref: name, digest, config };
}

function short(digests: string[]): string {
  return digests.slice(0, 3).map((d) => d.slice(7, 19)).join(', ') + (digests.length > 3 ? ', …' : '');
}

function unrecoverable(name: string, damaged: string[], why: string): StoreError {
  return new StoreError('IMAGE_DAMAGED', `${name}: ${damaged.length} blob${damaged.length === 1 ? '' : 's'} missing or corrupt in the local store (${short(damaged)}), and ${why}`, {
    hint: 'run `tsbuild doctor --fix` (it removes the broken image), then pull, load or build it again',
  });
}
