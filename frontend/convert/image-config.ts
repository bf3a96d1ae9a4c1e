/** Image config helpers: the scratch config, a clean copy of a base config, and history entries. */
import type { HealthConfig, ImageConfig, Platform } from '../../src/image/types.js';
import { goQuote, goQuoteList } from '../parse/text.js';
import { formatGoDuration } from '../parse/duration.js';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const HISTORY_COMMENT = 'buildkit.dockerfile.v0';

/** The config of `FROM scratch` (as BuildKit: default PATH, WorkingDir "/"). */
export function emptyImage(platform: Platform): ImageConfig {
  const img: ImageConfig = {
    architecture: platform.architecture,
    os: platform.os,
    config: { Env: [`PATH=${DEFAULT_PATH}`], WorkingDir: '/' },
    rootfs: { type: 'layers', diff_ids: [] },
    history: [],
  };
  if (platform.variant) img.variant = platform.variant;
  return img;
}

/** A deep copy of a base image's config with only the fields an image config carries; no timestamps of ours. */
export function baseImage(base: ImageConfig): ImageConfig {
  const copy = structuredClone(base);
  const img: ImageConfig = {
    architecture: copy.architecture,
    os: copy.os,
    config: copy.config ?? {},
    rootfs: { type: 'layers', diff_ids: [] },
    history: copy.history ?? [],
  };
  if (copy.variant !== undefined) img.variant = copy.variant;
  if (copy.author !== undefined) img.author = copy.author;
  return img;
}

export function cloneImage(img: ImageConfig): ImageConfig {
  return structuredClone(img);
}

/** Append a history entry; `withLayer` for instructions that produce an op. */
export function commitHistory(img: ImageConfig, createdBy: string, withLayer: boolean): void {
  const entry: NonNullable<ImageConfig['history']>[number] = { created_by: createdBy, comment: HISTORY_COMMENT };
  if (!withLayer) entry.empty_layer = true;
  (img.history ??= []).push(entry);
}

/** Set or replace KEY in an Env list in place. */
export function setEnv(env: string[], key: string, value: string): string[] {
  const out = [...env];
  const i = out.findIndex((kv) => kv.split('=', 1)[0] === key);
  if (i >= 0) out[i] = `${key}=${value}`;
  else out.push(`${key}=${value}`);
  return out;
}

/** Go's `%v` of a []string: `[a b]`. */
export function goList(list: readonly string[]): string {
  return '[' + list.join(' ') + ']';
}

/** Go's `%v` of a set of ports: `map[443/tcp:{} 80/tcp:{}]` (sorted keys). */
export function goPortSet(ports: readonly string[]): string {
  return 'map[' + [...new Set(ports)].sort().map((p) => `${p}:{}`).join(' ') + ']';
}

/** Go's `%q` of a health config pointer, as Docker prints it in history. */
export function goHealthcheck(h: HealthConfig): string {
  const d = (ns: number | undefined): string => goQuote(formatGoDuration(ns ?? 0));
  const r = h.Retries ?? 0;
  const rune = r >= 0x20 && r < 0x7f ? `'${String.fromCharCode(r)}'` : `'\\x${r.toString(16).padStart(2, '0')}'`;
  return `&{${goQuoteList(h.Test ?? [])} ${d(h.Interval)} ${d(h.Timeout)} ${d(h.StartPeriod)} ${d(h.StartInterval)} ${rune}}`;
}

