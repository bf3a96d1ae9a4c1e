/**
 * The automatic cap on the build cache, enforced at the end of a build that added to the cache (an
 * unchanged rebuild skips it). Cap: env TSBUILD_CACHE_MAX, else `cacheMax` in `<root>/config.json`
 * (a size such as "5GB", or "off"), else 10% of the store's filesystem within [1 GiB, 20 GiB].
 * Over the cap, least recently used records go first; those this build used are kept, so a following
 * build of the same project stays cached. Skipped while other builds run on the store.
 * Throttled as BuildKit's daemon throttles its GC (at most once a minute): measuring reads every record,
 * snapshot and blob of the store (tens of ms on a small store, growing with it), so a cache found at most
 * half its cap is not measured again for CHECK_EVERY_MS (`<cache>/cap-check.json`: when, size, cap). A cache
 * nearer its cap is measured after every build. Cost: a burst of builds can take a cache that was under half
 * its cap past it for up to a minute; the first build after that prunes it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../fsutil/atomic.js';
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

/** How long a measurement that found the cache at most half its cap is trusted. */
export const CHECK_EVERY_MS = 60_000;

interface CapCheck {
  at: number;
  size: number;
  cap: number;
}

function lastCheck(file: string): CapCheck | undefined {
  try {
    const c = JSON.parse(readFileSync(file, 'utf8')) as Partial<CapCheck>;
    return typeof c.at === 'number' && typeof c.size === 'number' && typeof c.cap === 'number' ? (c as CapCheck) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A store this build created is empty: that is a measurement (size 0, now), noted as one, so the builds of
 * the next CHECK_EVERY_MS (this one included) skip measuring as after any measurement that found the cache
 * under half its cap. Measuring a new store at the end of its first build could never prune anyway: every
 * record in it is one that build used (kept). Best effort, like every cap-check note.
 */
export async function noteNewStore(root: string, now = Date.now()): Promise<void> {
  const cap = cacheCap(root);
  if (cap === undefined) return;
  const file = join(openStores(root).layout.cache, 'cap-check.json');
  await writeFileAtomic(file, JSON.stringify({ at: now, size: 0, cap } satisfies CapCheck), { mkdir: true, durable: false }).catch(() => {});
}

/** Enforce the cap; returns what was pruned, or undefined when nothing had to be (or it was not measured: see above). */
export async function enforceCacheCap(root: string, keep: Set<string>, signal?: AbortSignal, now = Date.now()): Promise<PruneReport | undefined> {
  const cap = cacheCap(root);
  if (cap === undefined) return undefined;
  const stores = openStores(root);
  const file = join(stores.layout.cache, 'cap-check.json');
  const last = lastCheck(file);
  if (last && last.cap === cap && last.size * 2 <= cap && now >= last.at && now - last.at < CHECK_EVERY_MS) return undefined;
  if (otherLiveBuilds(stores.layout.state).length > 0) return undefined;
  const size = await cacheSize(stores);
  // No fsync: a lost or stale file only means measuring again (or once more than needed).
  const note = (bytes: number) => writeFileAtomic(file, JSON.stringify({ at: now, size: bytes, cap } satisfies CapCheck), { mkdir: true, durable: false }).catch(() => {});
  if (size <= cap) {
    await note(size);
    return undefined;
  }
  const report = await prune(stores, { keepStorage: cap, keep, metadataDirs: metadataDirs(stores.layout), ...(signal ? { signal } : {}) });
  await note(Math.max(0, size - report.freed));
  return report;
}
