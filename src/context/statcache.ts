/**
 * A persistent stat cache: (host path, size, mtime, ctime, inode, mode) → sha256 of the content, so that an
 * unchanged file is not read again on the next build. One JSON file, written atomically.
 *
 * Lifecycle: `StatCache.open(dir)` once per build (a missing or corrupt file is an empty cache), `lookup` /
 * `store` while hashing, `flush()` at the end (writes only if something changed).
 *
 * Racy files: a file whose mtime is within RACY_MS of the moment it was hashed is not stored, because a
 * later write within the same timestamp tick would leave its stat unchanged.
 *
 * Selections: a second, small file (`selections.json`) maps the fingerprint of a whole COPY selection (every
 * entry's path and stat, see checksum.ts) to its checksum, so an unchanged selection costs the walk and no
 * per-file lookup. The per-file rows (large: one per context file) are parsed only on the first `lookup` or
 * `store`, so an unchanged rebuild never reads them.
 */
import { readFileSync, type Stats } from 'node:fs';
import { dirname } from 'node:path';
import { join } from 'node:path';
import { writeFileAtomic } from '../fsutil/atomic.js';

const VERSION = 1;
const RACY_MS = 1000;
/** Above this many entries, a flush keeps only the entries used by this process. */
const MAX_ENTRIES = 200_000;
/** Selection fingerprints kept (the most recently stored). */
const MAX_SELECTIONS = 2_000;

/** [size, mtimeMs, ctimeMs, ino, mode, sha256 hex] */
type Row = [number, number, number, number, number, string];

export class StatCache {
  private loaded: Map<string, Row> | undefined;
  private readonly used = new Set<string>();
  private dirty = false;
  private selectionsDirty = false;

  private constructor(
    readonly file: string,
    private readonly selections: Map<string, string>,
  ) {}

  /** Open (or start) the cache file `name` in `dir`. */
  static async open(dir: string, name = 'statcache.json'): Promise<StatCache> {
    const selections = new Map<string, string>();
    try {
      const data = JSON.parse(readFileSync(join(dir, 'selections.json'), 'utf8')) as { version?: number; selections?: [string, string][] };
      if (data.version === VERSION && Array.isArray(data.selections)) for (const [k, v] of data.selections) selections.set(k, v);
    } catch {
      // missing or unreadable: start empty
    }
    return new StatCache(join(dir, name), selections);
  }

  private get rows(): Map<string, Row> {
    if (this.loaded) return this.loaded;
    const rows = new Map<string, Row>();
    try {
      const data = JSON.parse(readFileSync(this.file, 'utf8')) as { version?: number; entries?: Record<string, Row> };
      if (data.version === VERSION && data.entries && typeof data.entries === 'object') {
        for (const [k, v] of Object.entries(data.entries)) if (Array.isArray(v) && v.length === 6) rows.set(k, v);
      }
    } catch {
      // missing or unreadable: start empty
    }
    this.loaded = rows;
    return rows;
  }

  get size(): number {
    return this.rows.size;
  }

  /** The checksum of a selection whose fingerprint was seen before. */
  selection(fingerprint: string): string | undefined {
    return this.selections.get(fingerprint);
  }

  storeSelection(fingerprint: string, checksum: string): void {
    if (this.selections.get(fingerprint) === checksum) return;
    this.selections.delete(fingerprint);
    this.selections.set(fingerprint, checksum);
    while (this.selections.size > MAX_SELECTIONS) this.selections.delete(this.selections.keys().next().value!);
    this.selectionsDirty = true;
  }

  /** The cached content hash of `hostPath` if its stat is unchanged. */
  lookup(hostPath: string, st: Stats): string | undefined {
    const r = this.rows.get(hostPath);
    if (!r) return undefined;
    if (r[0] !== st.size || r[1] !== st.mtimeMs || r[2] !== st.ctimeMs || r[3] !== st.ino || r[4] !== st.mode) return undefined;
    this.used.add(hostPath);
    return r[5];
  }

  /** Remember `hash` for `hostPath` with stat `st`, taken before the file was read. */
  store(hostPath: string, st: Stats, hash: string, now = Date.now()): void {
    this.used.add(hostPath);
    if (now - st.mtimeMs < RACY_MS) {
      if (this.rows.delete(hostPath)) this.dirty = true;
      return;
    }
    this.rows.set(hostPath, [st.size, st.mtimeMs, st.ctimeMs, st.ino, st.mode, hash]);
    this.dirty = true;
  }

  /** Write the cache file atomically if anything changed. */
  async flush(): Promise<void> {
    if (this.selectionsDirty) {
      const data = { version: VERSION, selections: [...this.selections] };
      await writeFileAtomic(join(dirname(this.file), 'selections.json'), JSON.stringify(data), { mkdir: true, durable: false });
      this.selectionsDirty = false;
    }
    if (!this.dirty) return;
    if (this.rows.size > MAX_ENTRIES) {
      for (const k of [...this.rows.keys()]) if (!this.used.has(k)) this.rows.delete(k);
    }
    const entries: Record<string, Row> = Object.fromEntries(this.rows);
    // No fsync (here and above): an unreadable cache starts empty, and every row is keyed by the stat it was made from.
    await writeFileAtomic(this.file, JSON.stringify({ version: VERSION, entries }), { mkdir: true, durable: false });
    this.dirty = false;
  }
}
