/** Small helpers the op modules share to explain a difference between two of their cache maps. */
import { TsbuildError } from '../../src/errors.js';

/** JSON equality (maps are JSON). */
export function same(x: unknown, y: unknown): boolean {
  return JSON.stringify(x) === JSON.stringify(y);
}

/** The union of two objects' field names, sorted (the order in which differences are named). */
export function fieldsOf(a: object, b: object): string[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
}

/** `parent step changed (NAME)` when the parents' keys differ, else nothing. */
export function parentReason(prev: string, cur: string, inputNames: string[]): string[] {
  return prev === cur ? [] : [`parent step changed${inputNames[0] ? ` (${inputNames[0]})` : ''}`];
}

/** A digest shortened for a person: the first 12 hex digits. */
export function short(d: string): string {
  return d.replace(/^sha256:/, '').slice(0, 12);
}

export function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

export function isStringArray(x: unknown): x is string[] {
  return Array.isArray(x) && x.every((s) => typeof s === 'string');
}

/** The error of a cache map that lacks a key fact (a bug: the resolver learns every fact first). */
export function missingFact(what: string): TsbuildError {
  return new TsbuildError('INTERNAL', `cache key: missing ${what}`);
}

/** A source that cannot be the root filesystem of an image (the Definition is wrong). */
export function notARootfs(what: string): never {
  throw new TsbuildError('INVALID_DEFINITION', `invalid build definition: ${what} cannot be an image's root filesystem`);
}

/** The key of input i. */
export function inputKey(inputs: { key: string }[], i: number): string {
  const input = inputs[i];
  if (!input) throw missingFact(`key of input ${i}`);
  return input.key;
}
