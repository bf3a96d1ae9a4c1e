/**
 * Digests (`algorithm:hex`), the one place that knows which algorithms tsbuild verifies: sha256 and
 * sha512. Any other algorithm (md5, blake3, sha384, ...) or a malformed hex part is refused with a clear
 * error before anything is fetched or trusted: a digest tsbuild cannot verify is never accepted.
 * Every check of bytes against a digest (manifests, configs, blobs, `load`, the content store, cache
 * sources) goes through verifyDigest() / digestHasher().
 */
import { createHash, type Hash } from 'node:crypto';
import { DigestMismatchError, TsbuildError } from '../errors.js';

export const DIGEST_ALGORITHMS = { sha256: 64, sha512: 128 } as const;
export type DigestAlgorithm = keyof typeof DIGEST_ALGORITHMS;

export interface ParsedDigest {
  algorithm: DigestAlgorithm;
  hex: string;
}

/** Why `digest` is not one tsbuild can verify, or undefined when it is. */
export function digestProblem(digest: string): string | undefined {
  const colon = digest.indexOf(':');
  if (colon <= 0) return 'expected ALGORITHM:HEX, e.g. sha256:<64 hex digits>';
  const algorithm = digest.slice(0, colon);
  const hex = digest.slice(colon + 1);
  const len = DIGEST_ALGORITHMS[algorithm as DigestAlgorithm];
  if (len === undefined || !Object.hasOwn(DIGEST_ALGORITHMS, algorithm)) {
    return `unsupported digest algorithm "${algorithm.slice(0, 32)}" (tsbuild verifies sha256 and sha512 only)`;
  }
  if (!/^[a-f0-9]*$/.test(hex)) return `a ${algorithm} digest is lower-case hex`;
  if (hex.length !== len) return `a ${algorithm} digest has ${len} hex digits, not ${hex.length}`;
  return undefined;
}

/** Parse a digest; throws TsbuildError BAD_DIGEST (exit 2) naming `what` for anything tsbuild cannot verify. */
export function parseDigest(digest: string, what = 'digest'): ParsedDigest {
  const problem = digestProblem(digest);
  if (problem !== undefined) {
    const err = new TsbuildError('BAD_DIGEST', `invalid ${what} "${shorten(digest)}": ${problem}`);
    err.exitCode = 2;
    throw err;
  }
  const colon = digest.indexOf(':');
  return { algorithm: digest.slice(0, colon) as DigestAlgorithm, hex: digest.slice(colon + 1) };
}

export function isVerifiableDigest(digest: string): boolean {
  return digestProblem(digest) === undefined;
}

/** A hash of `algorithm` (update as data arrives; `format()` gives `algorithm:hex`). */
export function digestHasher(algorithm: DigestAlgorithm): { update(b: Uint8Array): void; format(): string } {
  const h: Hash = createHash(algorithm);
  return { update: (b) => void h.update(b), format: () => `${algorithm}:${h.digest('hex')}` };
}

/** `algorithm:hex` of `bytes` (default sha256). */
export function digestOf(bytes: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
}

/** Throws DigestMismatchError unless `bytes` hash to `expected` (sha256 or sha512; others: BAD_DIGEST). */
export function verifyDigest(bytes: Uint8Array, expected: string, what = 'content'): void {
  const { algorithm } = parseDigest(expected, `${what} digest`);
  const actual = digestOf(bytes, algorithm);
  if (actual !== expected) throw new DigestMismatchError(expected, actual, what);
}

/** `blobs/<algorithm>/<hex>`: where an OCI image layout keeps the blob (sha256 and sha512 only). */
export function layoutBlobPath(digest: string): string {
  const { algorithm, hex } = parseDigest(digest, 'blob digest');
  return `blobs/${algorithm}/${hex}`;
}

function shorten(s: string): string {
  return s.length > 150 ? `${s.slice(0, 150)}…` : s;
}
