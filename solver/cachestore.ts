/**
 * The persistent cache: one small JSON record per cache key, at `<dir>/records/<hex of key>.json`:
 * { key, snapshot (committed snapshot name), layer? (the layer blob made from it, memoized), created }.
 * Records are written atomically (temp file, fsync, rename, fsync dir), so a crash leaves the old
 * record or the new one. A record whose snapshot no longer exists, or that cannot be read, is a miss
 * and is deleted.
 */
import { readFile, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../src/fsutil/atomic.js';
import { TsbuildError } from '../src/errors.js';
import type { Layer } from '../src/image/types.js';

export interface CacheRecord {
  key: string;
  snapshot: string;
  layer?: Layer;
  created: string;
}

export interface CacheStoreOptions {
  /** `<store>/cache`. */
  dir: string;
  snapshotExists(name: string): Promise<boolean>;
}

const KEY_RE = /^sha256:([0-9a-f]{64})$/;

export class CacheStore {
  readonly dir: string;
  private readonly snapshotExists: (name: string) => Promise<boolean>;

  constructor(opts: CacheStoreOptions) {
    this.dir = opts.dir;
    this.snapshotExists = opts.snapshotExists;
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
      rec = JSON.parse(await readFile(path, 'utf8')) as CacheRecord;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      await unlink(path).catch(() => {});
      return undefined;
    }
    if (rec.key !== key || typeof rec.snapshot !== 'string' || !(await this.snapshotExists(rec.snapshot))) {
      await unlink(path).catch(() => {});
      return undefined;
    }
    return rec;
  }

  async put(rec: CacheRecord): Promise<void> {
    await writeFileAtomic(this.recordPath(rec.key), JSON.stringify(rec) + '\n', { mkdir: true });
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
    for (const name of names) {
      if (!name.endsWith('.json') || name.startsWith('.')) continue;
      try {
        yield JSON.parse(await readFile(join(this.dir, 'records', name), 'utf8')) as CacheRecord;
      } catch {
        // removed concurrently or unreadable: not a record
      }
    }
  }
}
