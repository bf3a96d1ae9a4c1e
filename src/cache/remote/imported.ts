/**
 * The cache sources of one build (`--cache-from`, searched in the order given) and the solver's seam into
 * them (solver/scheduler.ts `ImportedCacheLookup`): `get(key)` answers from the sources' records when the
 * local cache misses; `restore()` makes a hit's snapshot on its parent's (the layer blob fetched, verified
 * and applied) only when a step runs on it or an output reads the rootfs; `ensureBlob()` fetches a layer
 * blob that only a source has, when an output needs its bytes (lazy blobs).
 */
import { randomBytes } from 'node:crypto';
import type { ContentStore } from '../../content/types.js';
import type { BlobFetcher, BlobOrigin } from '../../content/fetch.js';
import { applyLayer } from '../../diff/apply.js';
import { StoreError } from '../../errors.js';
import type { Descriptor } from '../../image/types.js';
import type { Snapshotter } from '../../snapshot/types.js';
import type { ImportedMount, ImportedRecord } from './format.js';

/** One loaded `--cache-from` source. */
export interface CacheSource {
  /** As the user named it (a directory or a reference). */
  label: string;
  records: Map<string, ImportedRecord>;
  /** Cache mount contents by mount id (exported with cache-mounts=true). */
  mounts: Map<string, ImportedMount>;
  /** Copy blob `d` into `content`, verified against its digest. */
  fetchBlob(d: Descriptor, content: ContentStore, signal?: AbortSignal): Promise<void>;
  /** Registry sources: the repository holding the blobs (a push to the same registry mounts from it). */
  repository?: { domain: string; path: string };
}

export interface ImportedCacheDeps {
  content: ContentStore;
  snapshotter: Snapshotter;
  /** The build's blob fetcher; `origins` is added to it as a locator by the constructor. */
  blobs: BlobFetcher;
}

export class ImportedCache {
  lazyOutput = false;

  constructor(
    readonly sources: CacheSource[],
    private readonly deps: ImportedCacheDeps,
  ) {
    deps.blobs.add((digest) => this.origins(digest));
  }

  get(key: string): ImportedRecord | undefined {
    for (const s of this.sources) {
      const r = s.records.get(key);
      if (r) return r;
    }
    return undefined;
  }

  /**
   * Why no source offers a usable record for a step that missed (--explain): a source has the key on
   * another parent, has a step of the same name under another key (its inputs differ), or has neither.
   */
  missReason(key: string, parentKey: string | undefined, name: string): string | undefined {
    if (this.sources.length === 0) return undefined;
    const why: string[] = [];
    for (const s of this.sources) {
      const r = s.records.get(key);
      if (r && r.parent !== parentKey) why.push(`cache source ${s.label} has this step on another parent step`);
      else if ([...s.records.values()].some((x) => x.name === name)) why.push(`cache source ${s.label} has this step with other inputs (a copied file, build arg, flag or parent step differs)`);
    }
    return why.length ? why.join('; ') : `not in cache source${this.sources.length > 1 ? 's' : ''} ${this.sources.map((s) => s.label).join(', ')}`;
  }

  /** The first source's contents of cache mount `id`. */
  mount(id: string): ImportedMount | undefined {
    for (const s of this.sources) {
      const m = s.mounts.get(id);
      if (m) return m;
    }
    return undefined;
  }

  /** The first source that offers blob `digest` (as a record's layer or a cache mount's contents), if any. */
  sourceOf(digest: string): CacheSource | undefined {
    return this.sources.find((s) => offers(s, digest));
  }

  /** Every source offering blob `digest`, in order, as places to fetch it from. */
  origins(digest: string): BlobOrigin[] {
    return this.sources.filter((s) => offers(s, digest)).map((s) => ({ label: s.label, fetch: (d, content, signal) => s.fetchBlob(d, content, signal) }));
  }

  /** The committed snapshot `op:<key hex>` of `rec` on `parent` (the solver's snapshot name for that key). */
  async restore(rec: ImportedRecord, parent: string | null, signal: AbortSignal): Promise<string> {
    const { snapshotter, content } = this.deps;
    const name = `op:${rec.key.slice('sha256:'.length)}`;
    if ((await snapshotter.stat(name))?.kind === 'committed') return name;
    await this.deps.blobs.ensure(rec.layer.descriptor, signal);
    const active = `import:${process.pid}:${randomBytes(6).toString('hex')}`;
    await snapshotter.prepare(active, parent ?? undefined);
    try {
      const layerDir = await snapshotter.layerDir(active);
      await applyLayer({ content, descriptor: rec.layer.descriptor, layerDir, diffID: rec.layer.diffID, signal });
      try {
        await snapshotter.commit(name, active);
      } catch (err) {
        if (!(err instanceof StoreError) || err.code !== 'SNAPSHOT_EXISTS') throw err;
        await snapshotter.remove(active);
      }
      return name;
    } catch (err) {
      await snapshotter.remove(active).catch(() => {});
      throw err;
    }
  }
}

function offers(s: CacheSource, digest: string): boolean {
  for (const r of s.records.values()) if (r.layer.descriptor.digest === digest) return true;
  for (const m of s.mounts.values()) if (m.layer.descriptor.digest === digest) return true;
  return false;
}
