/**
 * Which repositories of which registry a blob is known to live in (learned when pulling or pushing it), so a
 * push can ask the registry to mount the blob from there instead of uploading it. One small JSON file per
 * blob under `<dir>/<hex>.json`, written atomically; losing it only costs an upload.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../fsutil/atomic.js';
import type { BlobLocator } from '../content/fetch.js';
import type { RegistryClient } from './client.js';

export interface BlobSource {
  domain: string;
  repository: string;
}

export class BlobSources {
  constructor(readonly dir: string) {}

  private file(digest: string): string {
    return join(this.dir, digest.replace(/^sha256:/, '') + '.json');
  }

  async get(digest: string): Promise<BlobSource[]> {
    try {
      return JSON.parse(await readFile(this.file(digest), 'utf8')) as BlobSource[];
    } catch {
      return [];
    }
  }

  async add(digest: string, src: BlobSource): Promise<void> {
    const cur = await this.get(digest);
    if (cur.some((s) => s.domain === src.domain && s.repository === src.repository)) return;
    cur.push(src);
    // No fsync: losing the file (or reading a cut one: get() answers []) only costs an upload instead of a mount.
    await writeFileAtomic(this.file(digest), JSON.stringify(cur.slice(-16)), { mkdir: true, durable: false });
  }
}

/**
 * The repositories `sources` knows for a digest, as places to fetch the blob from (src/content/fetch.ts):
 * verified like every pull. `client` is made on first use (a store that lost nothing never loads it).
 */
export function registryOrigins(sources: BlobSources, client: () => Promise<RegistryClient>): BlobLocator {
  return async (digest) =>
    (await sources.get(digest)).map((s) => ({
      label: `${s.domain}/${s.repository}`,
      fetch: async (d, content, signal) => (await client()).pullBlobs(`${s.domain}/${s.repository}`, [d], { content, ...(signal ? { signal } : {}) }),
    }));
}
