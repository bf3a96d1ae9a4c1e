/**
 * The cache as a directory (src/cache/remote/local-dir.ts): exports racing into one directory (two CI jobs)
 * leave a valid cache, the last writer's, with every blob its index names present and verified.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalContentStore } from '../../../../src/content/store.js';
import { CACHE_CONFIG_MEDIA_TYPE, encodeCache } from '../../../../src/cache/remote/format.js';
import { loadLocalSource, writeLocalCache } from '../../../../src/cache/remote/local-dir.js';
import type { CachePayload } from '../../../../src/cache/remote/export.js';

const tmp = mkdtempSync(join(tmpdir(), 'tsbuild-local-dir-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const sha = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');

async function payload(content: LocalContentStore, n: number): Promise<CachePayload> {
  const layers = [];
  const records = [];
  for (let i = 0; i < n; i++) {
    const bytes = randomBytes(64 * 1024);
    const { digest, size } = await content.put(bytes);
    layers.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest, size });
    records.push({ key: sha(randomBytes(8)), layer: i, diffID: sha(randomBytes(8)), created: '2026-01-01T00:00:00.000Z', name: `RUN ${i}` });
  }
  const enc = encodeCache(records, layers);
  const config = { mediaType: CACHE_CONFIG_MEDIA_TYPE, digest: sha(enc.config), size: enc.config.length };
  const manifestBytes = enc.manifest(config);
  return { records, mounts: 0, layers, config, configBytes: enc.config, manifest: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha(manifestBytes), size: manifestBytes.length }, manifestBytes };
}

describe('cache directory', () => {
  it('exports racing into one directory leave the last writer\'s cache whole', async () => {
    const content = new LocalContentStore(join(tmp, 'content'));
    for (let round = 0; round < 4; round++) {
      const dir = join(tmp, `race-${round}`);
      const jobs = await Promise.all([payload(content, 6), payload(content, 6), payload(content, 6)]);
      await Promise.all(jobs.map((p) => writeLocalCache(dir, p, async (d) => content.path(d.digest))));
      const src = await loadLocalSource(dir);
      const winner = jobs.find((p) => p.records.every((r) => src.records.has(r.key)));
      expect(winner, `round ${round}: index.json names one job's cache`).toBeDefined();
      for (const l of winner!.layers) {
        const bytes = readFileSync(join(dir, 'blobs/sha256', l.digest.slice(7)));
        expect(sha(bytes), `round ${round}: layer ${l.digest} present and whole`).toBe(l.digest);
      }
      // The losers' blobs are gone (only what the index names is kept), the lock file stays out of blobs/.
      expect(readdirSync(join(dir, 'blobs/sha256')).length).toBe(winner!.layers.length + 2);
    }
  });
});
