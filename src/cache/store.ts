/**
 * The persistent cache: one small JSON record per cache key, at `<dir>/records/<hex of key>.json`:
 * { key, snapshot (committed snapshot name), layer? (the layer blob made from it, memoized), created }.
 * Records are written atomically (temp file, fsync, rename, fsync dir), so a crash leaves the old
 * record or the new one. A record whose snapshot no longer exists, or that cannot be read, is a miss
 * and is deleted — unless its memoized layer blob still exists (when the store is given `layerExists`):
 * the solver then makes the snapshot again from the layer when it needs it (solver/restore.ts). A record file's mtime is when it was last used (a hit touches it): prune's `until` reads it.
 *
 * Step memos (./explain.ts) live beside the records: `<dir>/steps/<hex of identity>.json` (the cache map of
 * the step's last build) and `<hex>.files.json` (the file list behind its local checksums, apart because it
 * can be large and is read only to explain a miss). Both are written atomically; a files list whose key
 * differs from its memo's (two builds racing) is ignored.
 */
import { readFileSync } from 'node:fs';
import { readFile, readdir, unlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { inSlices } from '../fsutil/in-slices.js';
import { writeFileAtomic } from '../fsutil/atomic.js';
import { TsbuildError } from '../errors.js';
import type { Layer } from '../image/types.js';
import type { SelectionFile } from '../context/checksum.js';

export interface CacheRecord {
  key: string;
  snapshot: string;
  layer?: Layer;
  created: string;
  /** The step's description when it was built (for du). */
  name?: string;
}

/**
 * What a step's key was made of the last time it was built (see solver/explain.ts).
 * `map` is the step's cache map; `files` the file lists behind its local checksums, by copy action index.
 */
export interface StepMemo {
  /** The step identities it is stored under. */
  ids: string[];
  key: string;
  map: Record<string, unknown> & { tag: string };
  files?: Record<number, SelectionFile[]>;
  /** When this variant of the step was built. */
  at: string;
}

export interface CacheStoreOptions {
  /** `<store>/cache`. */
  dir: string;
  snapshotExists(name: string): Promise<boolean>;
  /** Given: a record whose snapshot is gone but whose layer blob this says exists is kept (and returned). */
  layerExists?(layer: Layer): Promise<boolean>;
}

const KEY_RE = /^sha256:([0-9a-f]{64})$/;

export class CacheStore {
  readonly dir: string;
  private readonly snapshotExists: (name: string) => Promise<boolean>;
  private readonly layerExists: ((layer: Layer) => Promise<boolean>) | undefined;
  /** Keys whose record get() found and deleted because its result (snapshot, layer) was gone. */
  private readonly lost = new Set<string>();

  constructor(opts: CacheStoreOptions) {
    this.dir = opts.dir;
    this.snapshotExists = opts.snapshotExists;
    this.layerExists = opts.layerExists;
  }

  /** Whether get(key) found a record whose cached result was missing (and deleted it). */
  resultLost(key: string): boolean {
    return this.lost.has(key);
  }

  recordPath(key: string): string {
    const m = KEY_RE.exec(key);
    if (!m) throw new TsbuildError('INTERNAL', `not a cache key: ${key}`);
    return join(this.dir, 'records', `${m[1]}.json`);
  }

  /** The record for `key` if it exists and its snapshot still exists; otherwise undefined (stale records are deleted). */
  async get(key: string): Promise<CacheRecord | undefined> {
    const path = this.recordPath(key);
    let rec: CacheRecord;
    try {
      rec = JSON.parse(readFileSync(path, 'utf8')) as CacheRecord; // small: one call, not four thread-pool round trips
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      await unlink(path).catch(() => {});
      return undefined;
    }
    if (rec.key !== key || typeof rec.snapshot !== 'string') {
      await unlink(path).catch(() => {});
      return undefined;
    }
    if (!(await this.snapshotExists(rec.snapshot))) {
      if (rec.layer && this.layerExists && (await this.layerExists(rec.layer))) return rec;
      this.lost.add(key);
      await unlink(path).catch(() => {});
      return undefined;
    }
    return rec;
  }

  async put(rec: CacheRecord): Promise<void> {
    await writeFileAtomic(this.recordPath(rec.key), JSON.stringify(rec) + '\n', { mkdir: true });
  }

  /** Mark the record as used now (its file's mtime), for prune's `until` filter. */
  async touch(key: string): Promise<void> {
    const now = new Date();
    await utimes(this.recordPath(key), now, now).catch(() => {});
  }

  private stepPath(id: string, suffix = '.json'): string {
    const m = KEY_RE.exec(id);
    if (!m) throw new TsbuildError('INTERNAL', `not a step identity: ${id}`);
    return join(this.dir, 'steps', `${m[1]}${suffix}`);
  }

  /** The memo of the step's last build under the first of `ids` that has one (without its file lists). */
  async getStep(ids: string[]): Promise<StepMemo | undefined> {
    for (const id of ids) {
      try {
        const memo = JSON.parse(readFileSync(this.stepPath(id), 'utf8')) as StepMemo;
        if (typeof memo.key === 'string' && memo.map && typeof memo.map === 'object') return { ...memo, ids: [id] };
      } catch {
        // missing or unreadable: try the next identity
      }
    }
    return undefined;
  }

  /** The file lists of a memo returned by getStep, or undefined. */
  async getStepFiles(memo: StepMemo): Promise<Record<number, SelectionFile[]> | undefined> {
    try {
      const data = JSON.parse(await readFile(this.stepPath(memo.ids[0]!, '.files.json'), 'utf8')) as { key: string; files: Record<number, SelectionFile[]> };
      return data.key === memo.key ? data.files : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Remember a step's build under each of its identities. No fsync: a memo only explains a miss (--explain)
   * or offers an incremental COPY its previous result, and its readers ignore an unreadable file and check
   * its file list's key (getStepFiles) against the memo; after a power loss it may be old or gone, never
   * wrong. (A build whose every step hits from a --cache-from source writes one per step on a fresh store:
   * 2 fsyncs each were most of that build's wait.)
   */
  async putStep(memo: StepMemo): Promise<void> {
    const { files, ...head } = memo;
    for (const id of memo.ids) {
      if (files && Object.keys(files).length) {
        await writeFileAtomic(this.stepPath(id, '.files.json'), JSON.stringify({ key: memo.key, files }), { mkdir: true, durable: false });
      }
      await writeFileAtomic(this.stepPath(id), JSON.stringify(head) + '\n', { mkdir: true, durable: false });
    }
  }

  async delete(key: string): Promise<void> {
    await unlink(this.recordPath(key)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  /** Every readable record (for du and prune); unreadable ones are skipped. */
  async *list(): AsyncIterable<CacheRecord> {
    let names: string[];
    try {
      names = await readdir(join(this.dir, 'records'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    const read = (name: string): CacheRecord | undefined => {
      try {
        return JSON.parse(readFileSync(join(this.dir, 'records', name), 'utf8')) as CacheRecord;
      } catch {
        return undefined; // removed concurrently or unreadable: not a record
      }
    };
    for await (const record of inSlices(names.filter((n) => n.endsWith('.json') && !n.startsWith('.')), read)) if (record) yield record;
  }
}
