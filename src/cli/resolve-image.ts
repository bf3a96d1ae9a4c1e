/**
 * A build's base images: from the local store when it has them, from the registry otherwise.
 * - not in the store, or --pull: pull (manifests, config, layers) and name it in the store;
 * - in the store and pulled from a registry before: one HEAD per build; the store's copy is reused when the
 *   digest is unchanged, pulled again when the tag moved, and used with a warning when the registry cannot
 *   be reached;
 * - in the store and never pulled (built or tagged here), or pinned by digest: used as is, no network.
 */
import { NotFoundError, TsbuildError } from '../errors.js';
import { normalizeReference, parseReference } from '../image/reference.js';
import { formatPlatform, selectPlatform } from '../image/platform.js';
import type { ContentStore } from '../content/types.js';
import type { ImageStore } from '../imagestore/types.js';
import type { ImageConfig, Index, Manifest, Platform } from '../image/types.js';
import type { ProgressSink } from '../progress/types.js';
import { RegistryError } from '../registry/errors.js';
import type { PulledRecords } from '../registry/pulled.js';
import type { RegistryClient } from '../registry/client.js';

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
}

export async function resolveBaseImage(ref: string, deps: BaseImageDeps): Promise<{ ref: string; digest: string; config: ImageConfig }> {
  const { content, images, client, pulled, progress } = deps;
  const name = normalizeReference(ref);
  const parsed = parseReference(ref);
  const rec = await images.get(name);
  if (rec && !deps.pull) {
    const from = await pulled.get(name);
    if (parsed.digest !== undefined || !from || from.digest !== rec.target.digest) return local(name, rec.target.digest, content, deps.platform);
    try {
      const head = await (await client()).resolve(parsed, deps.signal);
      if (!head || head.digest === rec.target.digest) return local(name, rec.target.digest, content, deps.platform);
    } catch (err) {
      if (!(err instanceof RegistryError)) throw err;
      progress.emit({ type: 'warning', message: `${name}: cannot check the registry (${err.message}); using the image in the local store` });
      return local(name, rec.target.digest, content, deps.platform);
    }
  }
  const id = `pull:${name}`;
  const at = Date.now();
  progress.emit({ type: 'vertex.started', id, name: `pulling ${name}`, at });
  try {
    const img = await (await client()).pull(parsed, { content, platform: deps.platform, ...(deps.signal ? { signal: deps.signal } : {}) });
    await images.put(name, img.target);
    await pulled.put(name, img.target.digest);
    progress.emit({ type: 'vertex.done', id, name: `pulling ${name}`, at: Date.now(), durationMs: Date.now() - at });
    return { ref: name, digest: img.target.digest, config: img.config };
  } catch (err) {
    progress.emit({ type: 'vertex.failed', id, name: `pulling ${name}`, at: Date.now(), error: err instanceof Error ? err.message : String(err) });
    if (rec && err instanceof RegistryError && !(err.status !== undefined && err.status < 500)) {
      progress.emit({ type: 'warning', message: `${name}: cannot pull (${err.message}); using the image in the local store` });
      return local(name, rec.target.digest, content, deps.platform);
    }
    if (err instanceof TsbuildError) throw err;
    throw new NotFoundError('IMAGE_PULL_FAILED', `${name}: pull failed: ${(err as Error).message}`, { cause: err });
  }
}

async function local(name: string, digest: string, content: ContentStore, platform: Platform): Promise<{ ref: string; digest: string; config: ImageConfig }> {
  let doc = JSON.parse((await content.read(digest)).toString()) as Manifest & Index;
  if (Array.isArray(doc.manifests)) {
    const pick = selectPlatform(doc.manifests, platform);
    if (!pick) throw new NotFoundError('IMAGE_PLATFORM_NOT_FOUND', `${name} has no manifest for ${formatPlatform(platform)}`);
    doc = JSON.parse((await content.read(pick.digest)).toString()) as Manifest & Index;
  }
  const config = JSON.parse((await content.read(doc.config.digest)).toString()) as ImageConfig;
  return { ref: name, digest, config };
}
