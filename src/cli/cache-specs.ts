/**
 * buildx's `--cache-to` / `--cache-from` syntax: CSV `key=value` fields (`type=registry,ref=R,mode=max`);
 * a bare `--cache-from REF` is `type=registry,ref=REF`. Types: `local` (dest= / src=), `registry` (ref=) and,
 * for --cache-to only, `inline` (mode=min carried in the image config; read back as a registry source).
 */
import { UsageError } from '../errors.js';
import { splitCsv } from './outputs.js';
import type { Compression } from '../diff/compress.js';

export interface CacheSpec {
  type: 'local' | 'registry' | 'inline';
  /** local: the directory; registry: the reference; inline: empty. */
  target: string;
  /** --cache-to: min (default) or max. */
  mode: 'min' | 'max';
  /** --cache-to ignore-error=true: a failed export is a warning. */
  ignoreError: boolean;
  /** --cache-to cache-mounts=true: RUN --mount=type=cache contents travel too. */
  cacheMounts: boolean;
  /** compression=, compression-level=, force-compression=: the exported layers' compression (as an output's). */
  layers: { compression?: Compression; level?: number; force?: boolean };
  /** Every field as given. */
  attrs: Record<string, string>;
}

const KNOWN = new Set(['type', 'ref', 'dest', 'src', 'mode', 'ignore-error', 'compression', 'compression-level', 'force-compression', 'oci-mediatypes', 'image-manifest', 'cache-mounts']);

function fields(flag: string, spec: string): Record<string, string> {
  const attrs: Record<string, string> = {};
  for (const raw of splitCsv(spec)) {
    const part = raw.trim();
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) throw new UsageError(`invalid ${flag} "${spec}": "${part}" is not key=value`);
    attrs[part.slice(0, eq).toLowerCase()] = part.slice(eq + 1);
  }
  return attrs;
}

export function parseCacheSpec(flag: '--cache-to' | '--cache-from', spec: string): CacheSpec {
  const attrs = spec.includes('=') ? fields(flag, spec) : { type: 'registry', ref: spec };
  const type = attrs.type ?? (attrs.ref ? 'registry' : undefined);
  const hint = 'tsbuild supports type=registry,ref=REF and type=local,' + (flag === '--cache-to' ? 'dest=DIR and type=inline' : 'src=DIR (an image pushed with an inline cache is a registry source)');
  if (type === 'inline' && flag === '--cache-to') return inlineSpec(spec, attrs);
  if (type !== 'local' && type !== 'registry') {
    throw new UsageError(`invalid ${flag} "${spec}": ${type === undefined ? 'missing type=' : `unsupported type "${type}"`}`, { hint });
  }
  for (const k of Object.keys(attrs)) if (!KNOWN.has(k)) throw new UsageError(`invalid ${flag} "${spec}": unknown field "${k}"`);
  const target = type === 'registry' ? attrs.ref : flag === '--cache-to' ? attrs.dest : attrs.src;
  if (!target) throw new UsageError(`invalid ${flag} "${spec}": type=${type} needs ${type === 'registry' ? 'ref=REF' : flag === '--cache-to' ? 'dest=DIR' : 'src=DIR'}`);
  const mode = attrs.mode ?? 'min';
  if (mode !== 'min' && mode !== 'max') throw new UsageError(`invalid ${flag} "${spec}": mode must be min or max`);
  const ie = attrs['ignore-error'] ?? 'false';
  if (ie !== 'true' && ie !== 'false') throw new UsageError(`invalid ${flag} "${spec}": ignore-error must be true or false`);
  const cm = attrs['cache-mounts'] ?? 'false';
  if (cm !== 'true' && cm !== 'false') throw new UsageError(`invalid ${flag} "${spec}": cache-mounts must be true or false`);
  return { type, target, mode, ignoreError: ie === 'true', cacheMounts: cm === 'true', layers: flag === '--cache-to' ? layerOptions(spec, attrs) : {}, attrs };
}

/**
 * The layer fields of a --cache-to: compression=gzip|zstd|uncompressed, compression-level=N (gzip 0–9, zstd
 * 1–22), force-compression=true|false. oci-mediatypes=true and image-manifest=true are what tsbuild writes
 * (an OCI image manifest with an artifact type); =false (Docker media types, BuildKit's index form) is refused.
 */
function layerOptions(spec: string, attrs: Record<string, string>): CacheSpec['layers'] {
  const bad = (why: string, hint?: string) => new UsageError(`invalid --cache-to "${spec}": ${why}`, hint ? { hint } : {});
  for (const k of ['oci-mediatypes', 'image-manifest'] as const) {
    const v = attrs[k];
    if (v === undefined || v === 'true') continue;
    if (v === 'false') throw bad(`${k}=false is not supported`, "tsbuild's cache is always an OCI image manifest with an artifact type (oci-mediatypes=true, image-manifest=true)");
    throw bad(`${k} must be true or false`);
  }
  const out: CacheSpec['layers'] = {};
  const c = attrs.compression;
  if (c !== undefined) {
    if (c !== 'gzip' && c !== 'zstd' && c !== 'uncompressed') throw bad('compression must be gzip, zstd or uncompressed');
    out.compression = c;
  }
  const lv = attrs['compression-level'];
  if (lv !== undefined) {
    const n = Number(lv);
    const [lo, hi] = out.compression === 'zstd' ? [1, 22] : [0, 9];
    if (!/^\d+$/.test(lv) || n < lo || n > hi) throw bad(`compression-level must be an integer from ${lo} to ${hi}${out.compression === 'zstd' ? ' for zstd' : ' for gzip'}`);
    if (out.compression === 'uncompressed') throw bad('compression-level does not apply to compression=uncompressed');
    out.level = n;
  }
  const f = attrs['force-compression'];
  if (f !== undefined && f !== 'true' && f !== 'false') throw bad('force-compression must be true or false');
  if (f === 'true') out.force = true;
  return out;
}

/** `--cache-to type=inline`: mode=min only (the image carries its own chain's records); no other field. */
function inlineSpec(spec: string, attrs: Record<string, string>): CacheSpec {
  for (const k of Object.keys(attrs)) {
    if (k === 'type') continue;
    if (k === 'mode' && attrs.mode === 'min') continue;
    if (k === 'mode') throw new UsageError(`invalid --cache-to "${spec}": type=inline carries mode=min only`, { hint: 'use type=registry,ref=REF,mode=max to export every stage' });
    throw new UsageError(`invalid --cache-to "${spec}": type=inline takes no field "${k}"`);
  }
  return { type: 'inline', target: '', mode: 'min', ignoreError: false, cacheMounts: false, layers: {}, attrs };
}
