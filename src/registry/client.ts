/**
 * RegistryClient: the distribution client the CLI and exporters use. One transport (scheme, TLS, auth,
 * token cache) per registry domain, shared by every call on this client.
 */
import type { ContentStore } from '../content/types.js';
import type { Descriptor, Platform } from '../image/types.js';
import { parseReference, type ParsedReference } from '../image/reference.js';
import type { ProgressSink } from '../progress/types.js';
import { headManifest, fetchManifest, type FetchedManifest, type ResolvedDescriptor } from './manifest.js';
import { pullImage, pullLayers, type PulledImage, type PullOptions } from './pull.js';
import { pushImage, type PushStats } from './push.js';
import type { BlobSources } from './sources.js';
import { RegistryTransport, type TransportOptions } from './transport.js';
import { repoScope } from './auth.js';
import { isInsecure } from './insecure.js';

export interface RegistryClientOptions extends TransportOptions {
  /** Where blobs were seen (for cross-repository mounts); optional. */
  sources?: BlobSources;
  progress?: ProgressSink;
}

export class RegistryClient {
  private readonly transports = new Map<string, RegistryTransport>();

  constructor(private readonly opts: RegistryClientOptions = {}) {}

  transport(domain: string): RegistryTransport {
    let t = this.transports.get(domain);
    if (!t) {
      t = new RegistryTransport(domain, this.opts);
      this.transports.set(domain, t);
    }
    return t;
  }

  private ref(ref: string | ParsedReference): ParsedReference {
    return typeof ref === 'string' ? parseReference(ref) : ref;
  }

  /** What a reference points at now (a cheap HEAD); undefined when the registry does not have it. */
  async resolve(ref: string | ParsedReference, signal?: AbortSignal): Promise<ResolvedDescriptor | undefined> {
    const r = this.ref(ref);
    const t = this.transport(r.domain);
    const reference = r.digest ?? r.tag ?? 'latest';
    const head = await headManifest(t, { path: r.path, reference }, signal);
    if (head) return head;
    try {
      const m = await fetchManifest(t, { path: r.path, reference }, signal);
      return { digest: m.digest, mediaType: m.mediaType, size: m.size };
    } catch (err) {
      if ((err as { status?: number }).status === 404) return undefined;
      throw err;
    }
  }

  /** Where requests to `domain` go (`https://host[:port]` or `http://…`, learned by the first request) and whether its TLS goes unverified. */
  async address(domain: string, signal?: AbortSignal): Promise<{ base: string; insecure: boolean }> {
    return { base: await this.transport(domain).baseUrl(signal), insecure: isInsecure(domain, this.opts) };
  }

  /** GET the manifest `ref` names, verified against its digest (throws a 404 RegistryError when absent). */
  manifest(ref: string | ParsedReference, signal?: AbortSignal): Promise<FetchedManifest> {
    const r = this.ref(ref);
    return fetchManifest(this.transport(r.domain), { path: r.path, reference: r.digest ?? r.tag ?? 'latest' }, signal);
  }

  /** Pull manifests, config and (unless layers=false) layers into `content`. */
  pull(ref: string | ParsedReference, opts: { content: ContentStore; platform: Platform; signal?: AbortSignal; layers?: boolean; concurrency?: number; tee?: PullOptions['tee'] }): Promise<PulledImage> {
    const r = this.ref(ref);
    return pullImage(this.transport(r.domain), r, { ...opts, ...(this.opts.progress ? { progress: this.opts.progress } : {}), ...(this.opts.sources ? { sources: this.opts.sources } : {}) });
  }

  /** Download the given blobs of repository `ref` that `content` lacks. */
  pullBlobs(ref: string | ParsedReference, blobs: Descriptor[], opts: { content: ContentStore; signal?: AbortSignal }): Promise<void> {
    const r = this.ref(ref);
    return pullLayers(this.transport(r.domain), r.path, blobs, { ...opts, platform: { os: '', architecture: '' }, ...(this.opts.progress ? { progress: this.opts.progress } : {}), ...(this.opts.sources ? { sources: this.opts.sources } : {}) });
  }

  /**
   * Push `target` and everything it references from `content` under every name in `refs` (grouped by
   * repository: each repository gets its blobs once and every tag of it).
   */
  async push(
    refs: (string | ParsedReference)[],
    target: Descriptor,
    opts: { content: ContentStore; signal?: AbortSignal; monolithicMax?: number; chunkSize?: number; ensureBlob?: (d: Descriptor) => Promise<void> },
  ): Promise<PushStats> {
    const byRepo = new Map<string, { r: ParsedReference; tags: string[] }>();
    for (const x of refs) {
      const r = this.ref(x);
      const key = `${r.domain}/${r.path}`;
      const e = byRepo.get(key) ?? { r, tags: [] };
      e.tags.push(r.tag ?? (r.digest ? target.digest : 'latest'));
      byRepo.set(key, e);
    }
    const total: PushStats = { uploaded: 0, skipped: 0, mounted: 0 };
    for (const { r, tags } of byRepo.values()) {
      const s = await pushImage(this.transport(r.domain), r.path, target, [...new Set(tags)], {
        ...opts,
        ...(this.opts.progress ? { progress: this.opts.progress } : {}),
        ...(this.opts.sources ? { sources: this.opts.sources } : {}),
      });
      total.uploaded += s.uploaded;
      total.skipped += s.skipped;
      total.mounted += s.mounted;
    }
    return total;
  }

  /** Check that we can log in to `domain` (used by `tsbuild login`): asks for a token/auth on /v2/. */
  async checkLogin(domain: string, signal?: AbortSignal): Promise<void> {
    const t = this.transport(domain);
    const res = await t.send({ method: 'GET', path: '/v2/', scopes: [], ...(signal ? { signal } : {}) });
    await res.body.dump();
  }
}

export { repoScope };
