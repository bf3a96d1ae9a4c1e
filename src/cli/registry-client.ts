/** The RegistryClient the CLI commands share: the store's blob-source and pulled records, --insecure-registry. */
import { join } from 'node:path';
import { BlobSources, PulledRecords, RegistryClient } from '../registry/index.js';
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
    ...(opts.progress ? { progress: opts.progress } : {}),
  });
}
