import { createHash } from 'node:crypto';
import type { Digest, Op } from './types.js';

/**
 * Canonical JSON: object keys sorted, no whitespace, `undefined` members dropped.
 * Stable across runs and Node versions, so digests of equal data are equal.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (value === undefined) return 'null';
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return '[' + value.map((v) => canonicalJson(v === undefined ? null : v)).join(',') + ']';
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
  return '{' + keys.map((k) => JSON.stringify(k) + ':' + canonicalJson(obj[k])).join(',') + '}';
}

export function sha256(data: string | Uint8Array): Digest {
  return 'sha256:' + createHash('sha256').update(data).digest('hex');
}

/** The vertex digest of an op: sha256 of its canonical JSON. */
export function opDigest(op: Op): Digest {
  return sha256(canonicalJson(op));
}
