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
  /**
   * Where the registry answered last time (`https://host[:port]` or `http://…`): the next build checks the
   * tag there with one bare HEAD (src/cli/tag-check.ts) before loading the registry client.
   */
  base?: string;
  /** A bare HEAD could not tell (a 401, a private CA): the registry client checks this tag. */
  bare?: false;
}

/** What a record adds to the name and digest. */
export type PulledAddress = Pick<PulledRecord, 'base' | 'bare'>;

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

  async put(name: string, digest: string, address: PulledAddress = {}, pulledAt = new Date().toISOString()): Promise<void> {
    const rec: PulledRecord = { name, digest, pulledAt, ...address };
    await writeFileAtomic(this.file(name), JSON.stringify(rec) + '\n', { mkdir: true });
  }
}
