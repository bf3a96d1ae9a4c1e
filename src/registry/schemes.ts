/**
 * Which scheme a registry that may use plain HTTP (localhost, `--insecure-registry`) answered on last time,
 * so the next process tries that one first (src/registry/transport.ts `ping`): a plain-HTTP registry then
 * costs one request instead of a failed TLS handshake and a second request. One small JSON file per domain
 * under `<store>/registry/schemes/<sha256(domain)>.json`, written atomically without fsync and only when the
 * answer changed: a lost, cut or stale file costs the usual HTTPS-first probe, never another registry.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../fsutil/atomic.js';

export type Scheme = 'https' | 'http';

export class SchemeMemory {
  constructor(readonly dir: string) {}

  private file(domain: string): string {
    return join(this.dir, createHash('sha256').update(domain).digest('hex') + '.json');
  }

  /** The scheme `domain` answered on last time, or undefined (never asked, unreadable, another domain's). */
  get(domain: string): Scheme | undefined {
    try {
      const r = JSON.parse(readFileSync(this.file(domain), 'utf8')) as { domain?: unknown; scheme?: unknown };
      return r.domain === domain && (r.scheme === 'http' || r.scheme === 'https') ? r.scheme : undefined;
    } catch {
      return undefined;
    }
  }

  async set(domain: string, scheme: Scheme): Promise<void> {
    if (this.get(domain) === scheme) return;
    await writeFileAtomic(this.file(domain), JSON.stringify({ domain, scheme }), { mkdir: true, durable: false }).catch(() => {});
  }
}
