/** The RegistryClient the CLI commands share: the store's blob-source and pulled records, --insecure-registry. */
import { join } from 'node:path';
import { BlobSources, PulledRecords, RegistryClient } from '../registry/index.js';
import { registryOrigins } from '../registry/sources.js';
import { SchemeMemory } from '../registry/schemes.js';
import { BlobFetcher } from '../content/fetch.js';
import type { ContentStore } from '../content/types.js';
import type { ProgressSink } from '../progress/types.js';

export function registryDirs(storeRoot: string) {
  return { sources: new BlobSources(join(storeRoot, 'registry', 'sources')), pulled: new PulledRecords(join(storeRoot, 'registry', 'pulled')) };
}

/** `--insecure-registry` values plus $TSBUILD_INSECURE_REGISTRIES (comma-separated). */
export function insecureList(flags: string[] = []): string[] {
  const env = (process.env.TSBUILD_INSECURE_REGISTRIES ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  return [...new Set([...flags, ...env])];
}

export function makeRegistryClient(storeRoot: string, opts: { insecure?: string[]; progress?: ProgressSink } = {}): RegistryClient {
  return new RegistryClient({
    insecure: insecureList(opts.insecure),
    sources: registryDirs(storeRoot).sources,
    schemes: new SchemeMemory(join(storeRoot, 'registry', 'schemes')),
    ...(opts.progress ? { progress: opts.progress } : {}),
  });
}

/**
 * How a command outside a build (`save`, `push`) gets a blob the store lacks: a layer of a base image a build
 * resolved lazily (./resolve-image.ts), from the registry repositories `registry/sources` knows, verified.
 */
export function storeFetcher(storeRoot: string, content: ContentStore, opts: { insecure?: string[]; progress?: ProgressSink } = {}): BlobFetcher {
  let client: RegistryClient | undefined;
  return new BlobFetcher({ content, ...(opts.progress ? { progress: opts.progress } : {}) }).add(registryOrigins(registryDirs(storeRoot).sources, async () => (client ??= makeRegistryClient(storeRoot, opts))));
}
