import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { StoreError } from '../errors.js';
import { fsyncDir, writeFileAtomic } from '../fsutil/atomic.js';
import type { Descriptor } from '../image/types.js';
import type { ImageRecord, ImageStore } from './types.js';

/**
 * ImageStore on the local filesystem: `<root>/<sha256 of name>.json` holds one ImageRecord, written
 * atomically. Names are stored as given (callers pass normalized references).
 */
export class LocalImageStore implements ImageStore {
  constructor(readonly root: string) {}

  async get(name: string): Promise<ImageRecord | undefined> {
    const rec = await this.readRecord(this.pathOf(name));
    return rec && rec.name === name ? rec : undefined;
  }

  async put(name: string, target: Descriptor): Promise<ImageRecord> {
    if (name === '') throw new StoreError('BAD_IMAGE_NAME', 'cannot store an image without a name');
    const rec: ImageRecord = { name, target, created: new Date().toISOString() };
    await writeFileAtomic(this.pathOf(name), JSON.stringify(rec, null, 2) + '\n', { mkdir: true });
    return rec;
  }

  async delete(name: string): Promise<boolean> {
    if (!(await this.get(name))) return false;
    try {
      await unlink(this.pathOf(name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
    await fsyncDir(this.root);
    return true;
  }

  /** Every record, sorted by name. */
  async list(): Promise<ImageRecord[]> {
    let names: string[];
    try {
      names = await readdir(this.root);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const out: ImageRecord[] = [];
    for (const n of names) {
      if (!/^[a-f0-9]{64}\.json$/.test(n)) continue; // skips temp files of writes in progress
      const rec = await this.readRecord(join(this.root, n));
      if (rec) out.push(rec);
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  private pathOf(name: string): string {
    return join(this.root, createHash('sha256').update(name).digest('hex') + '.json');
  }

  private async readRecord(path: string): Promise<ImageRecord | undefined> {
    let text: string;
    try {
      text = readFileSync(path, 'utf8'); // small: one call, not four thread-pool round trips
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    try {
      return JSON.parse(text) as ImageRecord;
    } catch (err) {
      throw new StoreError('IMAGE_RECORD_CORRUPT', `image record ${path} is not valid JSON`, { cause: err });
    }
  }
}
