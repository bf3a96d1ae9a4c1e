/**
 * Disk use and garbage collection of the build cache.
 *
 * Words:
 * - cache record: a step's result (src/cache/store.ts): a committed snapshot, and maybe a memoized layer blob.
 * - needed snapshots: the snapshots of the records kept, and their ancestors (overlay lower dirs).
 * - needed blobs: everything a tagged image references (index → manifests → config + layers) and the layer
 *   blobs of the records kept. Tagged images are never touched, so a build after any prune still finds its
 *   base images; a record is dropped whole (record file first, so no build picks up a half-removed entry).
 * - size of a record: disk use of its snapshot's own dir (measured once, then kept in the record), plus its
 *   layer blob when no tagged image shares that blob ("private"); a shared blob is counted as shared.
 *
 * A prune must not run beside a live build (it could remove a snapshot the build is about to mount):
 * callers check `liveBuilds()` first.
 */
import { lstatSync, readdirSync, readFileSync, statfsSync, statSync } from 'node:fs';
import { removeDeadTempFiles, writeFileAtomic } from '../fsutil/atomic.js';
import { readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { inSlices } from '../fsutil/in-slices.js';
import type { ContentStore } from '../content/types.js';
import type { Descriptor } from '../image/types.js';
import type { ImageStore } from '../imagestore/types.js';
import type { SnapshotInfo, Snapshotter } from '../snapshot/types.js';
import { pidAlive } from '../proc/alive.js';
import type { CacheRecord, CacheStore } from './store.js';

export interface GcDeps {
  content: ContentStore;
  snapshotter: Snapshotter;
  images: ImageStore;
  cache: CacheStore;
}

export interface RecordUsage {
  record: CacheRecord;
  /** Record file mtime: when it was last used. */
  lastUsed: Date;
  snapshotSize: number;
  layerSize: number;
  /** The layer blob is referenced by a tagged image too. */
  layerShared: boolean;
  /** What removing this record alone frees. */
  reclaimable: number;
}

export interface Usage {
  records: RecordUsage[];
  /** Snapshot bytes of the records (own dirs). */
  snapshots: number;
  /** Committed snapshots no record needs (freed by a plain prune). */
  orphanSnapshots: { key: string; size: number }[];
  /** Blobs referenced by tagged images. */
  imageBlobs: number;
  /** Blobs only cache records reference. */
  cacheBlobs: number;
  /** Blobs nothing references (freed by a plain prune). */
  orphanBlobs: { digest: string; size: number }[];
  /** Record files, step memos, stat cache, snapshot and image metadata. */
  metadata: number;
  /** What the cache holds: record snapshots + cache-only blobs + orphans + cache metadata. */
  total: number;
}

/** Bytes a directory tree uses on disk, like du(1): allocated blocks, hard links once. Missing → 0. */
export function diskUsage(dir: string): number {
  const seen = new Set<string>();
  let size = 0;
  const visit = (p: string): void => {
    let st;
    try {
      st = lstatSync(p);
    } catch {
      return;
    }
    const id = `${st.dev}:${st.ino}`;
    if (seen.has(id)) return;
    seen.add(id);
    size += st.blocks * 512;
    if (st.isDirectory()) for (const name of readdirSync(p)) visit(join(p, name));
  };
  visit(dir);
  return size;
}

/**
 * Sizes of committed snapshots (immutable, so measured once): `<cache>/sizes.json`, written atomically.
 * A snapshot name reused after a prune gets measured again only if the entry was dropped with it.
 */
class SnapshotSizes {
  private dirty = false;
  private constructor(
    private readonly file: string,
    private readonly sizes: Record<string, number>,
  ) {}

  static open(cacheDir: string): SnapshotSizes {
    const file = join(cacheDir, 'sizes.json');
    let sizes: Record<string, number> = {};
    try {
      sizes = JSON.parse(readFileSync(file, 'utf8')) as Record<string, number>;
    } catch {
      // none yet
    }
    return new SnapshotSizes(file, sizes);
  }

  async get(snapshotter: Snapshotter, key: string): Promise<number> {
    const known = this.sizes[key];
    if (typeof known === 'number') return known;
    let size = 0;
    try {
      size = diskUsage(await snapshotter.layerDir(key));
    } catch {
      return 0;
    }
    this.sizes[key] = size;
    this.dirty = true;
    return size;
  }

  forget(key: string): void {
    if (delete this.sizes[key]) this.dirty = true;
  }

  async save(): Promise<void> {
    // No fsync: sizes are measurements; a lost or unreadable file only means measuring again.
    if (this.dirty) await writeFileAtomic(this.file, JSON.stringify(this.sizes), { mkdir: true, durable: false });
    this.dirty = false;
  }
}

/** Digests of every blob a tagged image references. */
export async function imageBlobs(content: ContentStore, images: ImageStore): Promise<Set<string>> {
  const out = new Set<string>();
  const visit = async (d: Descriptor): Promise<void> => {
    if (out.has(d.digest)) return;
    out.add(d.digest);
    if (!/manifest|index/.test(d.mediaType) && d.mediaType !== '') return;
    let doc: { config?: Descriptor; layers?: Descriptor[]; manifests?: Descriptor[] };
    try {
      doc = JSON.parse((await content.read(d.digest)).toString()) as typeof doc;
    } catch {
      return; // missing or not JSON: doctor reports it
    }
    if (doc.config) out.add(doc.config.digest);
    for (const l of doc.layers ?? []) out.add(l.digest);
    for (const m of doc.manifests ?? []) await visit(m);
  };
  for (const rec of await images.list()) await visit(rec.target);
  return out;
}

async function allRecords(cache: CacheStore): Promise<{ record: CacheRecord; lastUsed: Date }[]> {
  const records: CacheRecord[] = [];
  for await (const record of cache.list()) records.push(record);
  const out: { record: CacheRecord; lastUsed: Date }[] = [];
  const used = (record: CacheRecord) => ({ record, st: statSync(cache.recordPath(record.key), { throwIfNoEntry: false }) });
  for await (const { record, st } of inSlices(records, used)) if (st) out.push({ record, lastUsed: st.mtime });
  return out;
}

async function committedSnapshots(snapshotter: Snapshotter): Promise<Map<string, SnapshotInfo>> {
  const out = new Map<string, SnapshotInfo>();
  await snapshotter.walk((info) => {
    if (info.kind === 'committed') out.set(info.key, info);
  });
  return out;
}

/** Snapshots `keys` stand on: themselves and their ancestors. */
function withAncestors(keys: Iterable<string>, snaps: Map<string, SnapshotInfo>): Set<string> {
  const out = new Set<string>();
  for (let k of keys) {
    while (k && !out.has(k)) {
      out.add(k);
      const p = snaps.get(k)?.parent;
      if (!p) break;
      k = p;
    }
  }
  return out;
}

function dirBytes(dir: string): number {
  try {
    return diskUsage(dir);
  } catch {
    return 0;
  }
}

/** The cache's disk use. `metadataDirs`: dirs counted as metadata (records, steps, stat cache, …). */
export async function usage(deps: GcDeps, metadataDirs: string[] = []): Promise<Usage> {
  const sizes = SnapshotSizes.open(deps.cache.dir);
  try {
    return await measure(deps, metadataDirs, sizes);
  } finally {
    await sizes.save().catch(() => {});
  }
}

async function measure(deps: GcDeps, metadataDirs: string[], sizes: SnapshotSizes): Promise<Usage> {
  const snapshotSize = (_s: Snapshotter, key: string) => sizes.get(deps.snapshotter, key);
  const [recs, snaps, imgBlobs] = await Promise.all([allRecords(deps.cache), committedSnapshots(deps.snapshotter), imageBlobs(deps.content, deps.images)]);
  const blobs = new Map<string, number>();
  for await (const b of deps.content.list()) blobs.set(b.digest, b.size);
  const layerRefs = new Map<string, number>();
  for (const { record } of recs) if (record.layer) layerRefs.set(record.layer.descriptor.digest, (layerRefs.get(record.layer.descriptor.digest) ?? 0) + 1);
  const records: RecordUsage[] = [];
  for (const { record, lastUsed } of recs) {
    const snapshotSize = await sizes.get(deps.snapshotter, record.snapshot);
    const digest = record.layer?.descriptor.digest;
    const layerSize = digest ? (blobs.get(digest) ?? 0) : 0;
    const layerShared = digest ? imgBlobs.has(digest) || (layerRefs.get(digest) ?? 0) > 1 : false;
    records.push({ record, lastUsed, snapshotSize, layerSize, layerShared, reclaimable: snapshotSize + (layerShared ? 0 : layerSize) });
  }
  const needed = withAncestors(recs.map((r) => r.record.snapshot), snaps);
  const orphanSnapshots: { key: string; size: number }[] = [];
  for (const key of snaps.keys()) if (!needed.has(key)) orphanSnapshots.push({ key, size: await snapshotSize(deps.snapshotter, key) });
  // Ancestor snapshots (base image layers) no record names directly still belong to the cache.
  let ancestors = 0;
  const named = new Set(recs.map((r) => r.record.snapshot));
  for (const key of needed) if (!named.has(key) && snaps.has(key)) ancestors += await snapshotSize(deps.snapshotter, key);
  let imageBytes = 0;
  let cacheBytes = 0;
  const orphanBlobs: { digest: string; size: number }[] = [];
  for (const [digest, size] of blobs) {
    if (imgBlobs.has(digest)) imageBytes += size;
    else if (layerRefs.has(digest)) cacheBytes += size;
    else orphanBlobs.push({ digest, size });
  }
  const metadata = metadataDirs.reduce((a, d) => a + dirBytes(d), 0);
  const snapshots = records.reduce((a, r) => a + r.snapshotSize, 0) + ancestors;
  const total = snapshots + cacheBytes + orphanSnapshots.reduce((a, s) => a + s.size, 0) + orphanBlobs.reduce((a, b) => a + b.size, 0) + metadata;
  return { records, snapshots, orphanSnapshots, imageBlobs: imageBytes, cacheBlobs: cacheBytes, orphanBlobs, metadata, total };
}

export interface PruneOptions {
  /** Drop every cache record (tagged images stay). */
  all?: boolean;
  /** Drop records not used for this many milliseconds. */
  unusedForMs?: number;
  /** Drop least recently used records until the cache's size is at most this many bytes. */
  keepStorage?: number;
  /** Records never dropped (e.g. those the build that just ended used). */
  keep?: Set<string>;
  now?: number;
  /** Metadata dirs (as `usage` counts them): what pruning frees in them is added to `freed`. */
  metadataDirs?: string[];
  /**
   * Stop between two removals when aborted (Ctrl-C during the cap at the end of a build): what is left is
   * consistent (a dropped record's data is merely unreferenced) and the next prune takes it.
   */
  signal?: AbortSignal;
}

export interface PruneReport {
  records: number;
  snapshots: number;
  blobs: number;
  /** Bytes freed (snapshots' own dirs as measured, blob sizes, record files). */
  freed: number;
}

/**
 * Drop the records the options select, then everything no remaining record or tagged image needs
 * (snapshots, blobs). With no option only unreferenced data is removed.
 */
export async function prune(deps: GcDeps, opts: PruneOptions = {}): Promise<PruneReport> {
  const now = opts.now ?? Date.now();
  const report: PruneReport = { records: 0, snapshots: 0, blobs: 0, freed: 0 };
  const metadataBytes = () => (opts.metadataDirs ?? []).reduce((a, d) => a + dirBytes(d), 0);
  const metadataBefore = metadataBytes();
  const recs = await allRecords(deps.cache);
  const keep = opts.keep ?? new Set<string>();
  const drop = new Set<string>();
  for (const { record, lastUsed } of recs) {
    if (keep.has(record.key)) continue;
    if (opts.all || (opts.unusedForMs !== undefined && now - lastUsed.getTime() > opts.unusedForMs)) drop.add(record.key);
  }
  if (opts.keepStorage !== undefined) {
    const u = await usage(deps);
    let size = u.total - u.metadata - u.orphanBlobs.reduce((a, b) => a + b.size, 0) - u.orphanSnapshots.reduce((a, s) => a + s.size, 0);
    for (const r of u.records) if (drop.has(r.record.key)) size -= r.reclaimable;
    const lru = u.records.filter((r) => !drop.has(r.record.key) && !keep.has(r.record.key)).sort((a, b) => a.lastUsed.getTime() - b.lastUsed.getTime());
    for (const r of lru) {
      if (size <= opts.keepStorage) break;
      drop.add(r.record.key);
      size -= r.reclaimable;
    }
  }
  const stopped = (): boolean => opts.signal?.aborted === true;
  for (const key of drop) {
    if (stopped()) return report;
    await deps.cache.delete(key);
    report.records++;
  }
  // Unreferenced snapshots, children before parents.
  const snaps = await committedSnapshots(deps.snapshotter);
  const remaining = recs.filter((r) => !drop.has(r.record.key));
  const needed = withAncestors(remaining.map((r) => r.record.snapshot), snaps);
  const depth = (k: string): number => {
    let d = 0;
    for (let p = snaps.get(k)?.parent; p; p = snaps.get(p)?.parent) d++;
    return d;
  };
  const doomed = [...snaps.keys()].filter((k) => !needed.has(k)).sort((a, b) => depth(b) - depth(a));
  const sizes = SnapshotSizes.open(deps.cache.dir);
  for (const key of doomed) {
    if (stopped()) break;
    const size = await sizes.get(deps.snapshotter, key);
    try {
      await deps.snapshotter.remove(key);
      sizes.forget(key);
      report.snapshots++;
      report.freed += size;
    } catch {
      // still a parent of something (an active snapshot of a build): leave it
    }
  }
  await sizes.save().catch(() => {});
  // Unreferenced blobs.
  const neededBlobs = await imageBlobs(deps.content, deps.images);
  for (const r of remaining) if (r.record.layer) neededBlobs.add(r.record.layer.descriptor.digest);
  for await (const b of deps.content.list()) {
    if (stopped()) return report;
    if (neededBlobs.has(b.digest)) continue;
    await deps.content.delete(b.digest);
    report.blobs++;
    report.freed += b.size;
  }
  if (opts.all) await removeStepMemos(join(deps.cache.dir, 'steps'));
  await removeDeadTempFiles(cacheTempDirs(deps.cache.dir), pidAlive);
  // Record files, snapshot metadata, step memos: measured, not guessed.
  report.freed += Math.max(0, metadataBefore - metadataBytes());
  return report;
}

/** The cache dirs that atomic writes put temp files in (see removeDeadTempFiles in src/fsutil/atomic.ts). */
export function cacheTempDirs(cacheDir: string): string[] {
  return [cacheDir, join(cacheDir, 'records'), join(cacheDir, 'steps'), join(cacheDir, 'statcache')];
}

async function removeStepMemos(dir: string): Promise<void> {
  for (const name of await readdir(dir).catch(() => [] as string[])) await unlink(join(dir, name)).catch(() => {});
}

/** What the cache holds on disk, metadata aside (du's total minus its metadata line). */
export async function cacheSize(deps: GcDeps): Promise<number> {
  const u = await usage(deps);
  return u.total - u.metadata;
}

/** `10GB`, `512MiB`, `1.5g`, `2048` (bytes); units are powers of 1024, as Docker's. */
export function parseSize(s: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b)?\s*$/i.exec(s);
  if (!m) return undefined;
  const pow = ' kmgtp'.indexOf((m[2] || ' ').toLowerCase());
  return Math.round(Number(m[1]) * 1024 ** pow);
}

/** Go-style durations: `24h`, `90m`, `1h30m`, `45s`, `1.5h`, and `7d` as a convenience. */
export function parseDuration(s: string): number | undefined {
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let pos = 0;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    total += Number(m[1]) * unit[m[2]!]!;
    pos = re.lastIndex;
  }
  return pos === s.length && s.length > 0 ? total : undefined;
}


/** Default cap of the cache: 10% of the store's filesystem (BuildKit's default), at least 1 GiB, at most 20 GiB. */
export function defaultCap(root: string): number {
  try {
    const fs = statfsSync(root);
    const tenth = (Number(fs.blocks) * Number(fs.bsize)) / 10;
    return Math.max(1024 ** 3, Math.min(20 * 1024 ** 3, Math.round(tenth)));
  } catch {
    return 10 * 1024 ** 3;
  }
}
