/**
 * Fetching a blob again from a registry it is known to live in (`registry/sources` records, written when
 * it was pulled or pushed), for a store that lost it or holds a corrupt copy. The one place for "get this
 * blob back from where it came from"; the download is verified against the digest like every pull.
 * Each blob fetched again is reported once, as a warning.
 */
import type { BlobRecovery, ContentStore } from '../content/types.js';
import type { Descriptor } from '../image/types.js';
import type { ProgressSink } from '../progress/types.js';
import type { RegistryClient } from './client.js';
import { RegistryError } from './errors.js';
import type { BlobSources } from './sources.js';

export interface BlobRefetcherDeps {
  content: ContentStore;
  sources: BlobSources;
  /** Made on first use (a store that lost nothing never loads the registry client). */
  client: () => Promise<RegistryClient>;
  progress?: ProgressSink;
}

export class BlobRefetcher implements BlobRecovery {
  private readonly inflight = new Map<string, Promise<boolean>>();

  constructor(private readonly deps: BlobRefetcherDeps) {}

  fetchAgain(desc: Descriptor, signal?: AbortSignal): Promise<boolean> {
    let p = this.inflight.get(desc.digest);
    if (!p) {
      p = this.fetch(desc, signal);
      this.inflight.set(desc.digest, p);
      void p.finally(() => this.inflight.delete(desc.digest)).catch(() => {});
    }
    return p;
  }

  private async fetch(desc: Descriptor, signal?: AbortSignal): Promise<boolean> {
    const { content, sources, progress } = this.deps;
    const where = await sources.get(desc.digest);
    if (where.length === 0) return false;
    const present = await content.has(desc.digest);
    if (present) await content.delete(desc.digest); // corrupt: the store takes a present digest as good
    const short = desc.digest.slice(7, 19);
    for (const s of where) {
      try {
        await (await this.deps.client()).pullBlobs(`${s.domain}/${s.repository}`, [desc], { content, ...(signal ? { signal } : {}) });
        progress?.emit({ type: 'warning', message: `blob ${short} was ${present ? 'corrupt' : 'missing'} in the local store: fetched again from ${s.domain}/${s.repository}` });
        return true;
      } catch (err) {
        if (signal?.aborted) throw err;
        if (!(err instanceof RegistryError)) throw err;
      }
    }
    return false;
  }
}
