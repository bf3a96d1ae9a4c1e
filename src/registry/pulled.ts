/**
 * Which local image names came from a registry, and at which digest: `<dir>/<sha256 of name>.json`.
 * A build checks such a name against the registry (a HEAD) to see whether the tag moved; a name built or
 * tagged locally has no record and is used as it is, without network.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../fsutil/atomic.js';

export interface PulledRecord {
  name: string;
  digest: string;
  pulledAt: string;
}

export class PulledRecords {
  constructor(readonly dir: string) {}

  private file(name: string): string {
    return join(this.dir, createHash('sha256').update(name).digest('hex') + '.json');
  }

  async get(name: string): Promise<PulledRecord | undefined> {
    try {
      const r = JSON.parse(await readFile(this.file(name), 'utf8')) as PulledRecord;
      return r.name === name ? r : undefined;
    } catch {
      return undefined;
    }
  }

  async put(name: string, digest: string): Promise<void> {
    const rec: PulledRecord = { name, digest, pulledAt: new Date().toISOString() };
    await writeFileAtomic(this.file(name), JSON.stringify(rec) + '\n', { mkdir: true });
  }
}
