/**
 * Fetching a blob the content store lacks (or holds a corrupt copy of) by its digest, from the places known
 * to have it. The one place for "get this blob by digest": the solver heals a lost or corrupt base layer
 * with it (`fetchAgain`, the `BlobRecovery` seam); a cache hit's restore, a push's upload, an output that
 * reads layer bytes and a cache export bring lazy `--cache-from` blobs with it (`ensure`).
 * Where a blob lives is told by locators added by their owners: the registry repositories a blob was
 * pulled from or pushed to (`registryOrigins`, src/registry/sources.ts) and the build's cache sources
 * (`ImportedCache.origins`, src/cache/remote/imported.ts). Every copy goes through the content writer
 * with the expected digest and size, so an origin is untrusted: a wrong or endless blob is refused there.
 * One fetch per digest at a time; origins are tried in order until one succeeds.
 */
import type { Descriptor } from '../image/types.js';
import type { ProgressSink } from '../progress/types.js';
import type { BlobRecovery, ContentStore } from './types.js';

/** A place a blob can be copied from. */
export interface BlobOrigin {
  /** As messages name it (`REGISTRY/REPO`, a cache source). */
  label: string;
  /** Copy `d` into `content` (verified against its digest and size by the content writer). */
  fetch(d: Descriptor, content: ContentStore, signal?: AbortSignal): Promise<void>;
}

/** The origins that have `digest` (none: an empty list). */
export type BlobLocator = (digest: string) => BlobOrigin[] | Promise<BlobOrigin[]>;

type Wanted = Pick<Descriptor, 'digest' | 'size'> & { mediaType?: string };

export class BlobFetcher implements BlobRecovery {
  private readonly locators: BlobLocator[] = [];
  private readonly inflight = new Map<string, Promise<string | undefined>>();

  constructor(private readonly deps: { content: ContentStore; progress?: ProgressSink }) {}

  /** Also look where `locator` says (searched after the locators added before it). */
  add(locator: BlobLocator): this {
    this.locators.push(locator);
    return this;
  }

  /**
   * Bring `d` into the store when it is absent (a lazy blob). Nothing happens when no origin knows it (the
   * caller's own error names the missing blob); throws the last origin's error when every one failed.
   */
  async ensure(d: Wanted, signal?: AbortSignal): Promise<void> {
    if (await this.deps.content.has(d.digest)) return;
    await this.fetch(d, false, signal);
  }

  /**
   * The store lost `d` or holds a corrupt copy: a present copy is removed and `d` fetched again, with one
   * warning. False when no origin knows it or every origin failed (the caller names `doctor --fix`).
   */
  async fetchAgain(d: Wanted, signal?: AbortSignal): Promise<boolean> {
    try {
      return (await this.fetch(d, true, signal)) !== undefined;
    } catch (err) {
      if (signal?.aborted) throw err;
      return false;
    }
  }

  private fetch(d: Wanted, replace: boolean, signal?: AbortSignal): Promise<string | undefined> {
    let p = this.inflight.get(d.digest);
    if (!p) {
      p = this.run(d, replace, signal);
      this.inflight.set(d.digest, p);
      void p.finally(() => this.inflight.delete(d.digest)).catch(() => {});
    }
    return p;
  }

  /** The label of the origin that gave the blob; undefined when none knows it. */
  private async run(d: Wanted, replace: boolean, signal?: AbortSignal): Promise<string | undefined> {
    const { content, progress } = this.deps;
    const origins: BlobOrigin[] = [];
    for (const l of this.locators) origins.push(...(await l(d.digest)));
    if (origins.length === 0) return undefined;
    const present = replace && (await content.has(d.digest));
    if (present) await content.delete(d.digest); // corrupt: the store takes a present digest as good
    const desc: Descriptor = { mediaType: d.mediaType ?? 'application/octet-stream', digest: d.digest, size: d.size };
    let last: unknown;
    for (const o of origins) {
      try {
        await o.fetch(desc, content, signal);
        if (replace) progress?.emit({ type: 'warning', message: `blob ${d.digest.slice(7, 19)} was ${present ? 'corrupt' : 'missing'} in the local store: fetched again from ${o.label}` });
        return o.label;
      } catch (err) {
        if (signal?.aborted) throw err;
        last = err;
      }
    }
    throw last;
  }
}
