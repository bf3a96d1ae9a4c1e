/**
 * The automatic cap on the build cache, enforced at the end of a build that added to the cache (an
 * unchanged rebuild skips it). Cap: env TSBUILD_CACHE_MAX, else `cacheMax` in `<root>/config.json`
 * (a size such as "5GB", or "off"), else 10% of the store's filesystem within [1 GiB, 20 GiB].
 * Over the cap, least recently used records go first; those this build used are kept, so a following
 * build of the same project stays cached. Skipped while other builds run on the store.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../errors.js';
import { cacheSize, defaultCap, parseSize, prune, type PruneReport } from '../cache/gc.js';
import { metadataDirs, openStores } from './cache-stores.js';
import { otherLiveBuilds } from './live-builds.js';

/** The configured cap in bytes, or undefined when switched off. */
export function cacheCap(root: string): number | undefined {
  let spec = process.env.TSBUILD_CACHE_MAX;
  if (spec === undefined) {
    try {
      const cfg = JSON.parse(readFileSync(join(root, 'config.json'), 'utf8')) as { cacheMax?: string | number };
      if (cfg.cacheMax !== undefined) spec = String(cfg.cacheMax);
    } catch {
      // no config file
    }
  }
  if (spec === undefined || spec === '') return defaultCap(root);
  if (spec === 'off') return undefined;
  const n = parseSize(spec);
  if (n === undefined) throw new UsageError(`invalid cache cap "${spec}" (TSBUILD_CACHE_MAX or cacheMax in ${join(root, 'config.json')}): expected a size such as 5GB, or off`);
  return n;
}

/** Enforce the cap; returns what was pruned, or undefined when nothing had to be. */
export async function enforceCacheCap(root: string, keep: Set<string>, signal?: AbortSignal): Promise<PruneReport | undefined> {
  const cap = cacheCap(root);
  if (cap === undefined) return undefined;
  const stores = openStores(root);
  if (otherLiveBuilds(stores.layout.state).length > 0) return undefined;
  if ((await cacheSize(stores)) <= cap) return undefined;
  return prune(stores, { keepStorage: cap, keep, metadataDirs: metadataDirs(stores.layout), ...(signal ? { signal } : {}) });
}
