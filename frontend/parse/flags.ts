/**
 * Builder flags (`--name=value`, `--bool`, `--bool=false`) per instruction, validated like BuildKit's
 * BFlags: unknown flags, missing values, bad booleans and repeats are errors.
 */
export type FlagKind = 'string' | 'bool' | 'list';

export const ALLOWED_FLAGS: Record<string, Record<string, FlagKind>> = {
  ADD: { chown: 'string', chmod: 'string', link: 'bool', 'keep-git-dir': 'bool', checksum: 'string', exclude: 'list', unpack: 'bool' },
  COPY: { from: 'string', chown: 'string', chmod: 'string', link: 'bool', parents: 'bool', exclude: 'list' },
  FROM: { platform: 'string' },
  RUN: { mount: 'list', network: 'string', security: 'string', device: 'list' },
  HEALTHCHECK: { interval: 'string', timeout: 'string', 'start-period': 'string', 'start-interval': 'string', retries: 'string' },
};

export interface ParsedFlags {
  strings: Record<string, string>;
  bools: Record<string, boolean>;
  lists: Record<string, string[]>;
}

export class FlagError extends Error {
  /** Index of the offending flag in the list given to parseFlags. */
  constructor(message: string, readonly index: number) {
    super(message);
  }
}

export function parseFlags(keyword: string, flags: readonly string[]): ParsedFlags {
  const allowed = ALLOWED_FLAGS[keyword] ?? {};
  const out: ParsedFlags = { strings: {}, bools: {}, lists: {} };
  const seen = new Set<string>();
  for (const [index, raw] of flags.entries()) {
    if (!raw.startsWith('--')) throw new FlagError(`${keyword}: argument ${JSON.stringify(raw)} is not a flag`, index);
    const body = raw.slice(2);
    const eq = body.indexOf('=');
    const name = eq >= 0 ? body.slice(0, eq) : body;
    const value = eq >= 0 ? body.slice(eq + 1) : undefined;
    const kind = allowed[name];
    if (!kind) throw new FlagError(`${keyword} does not accept the flag --${name}`, index);
    if (kind !== 'list' && seen.has(name)) throw new FlagError(`${keyword}: duplicate flag specified: --${name}`, index);
    seen.add(name);
    if (kind === 'bool') {
      if (value === undefined || value.toLowerCase() === 'true') out.bools[name] = true;
      else if (value.toLowerCase() === 'false') out.bools[name] = false;
      else throw new FlagError(`${keyword}: expecting a boolean value for flag --${name}, not: ${value}`, index);
    } else if (value === undefined) {
      throw new FlagError(`${keyword}: missing a value on flag --${name}`, index);
    } else if (kind === 'list') {
      (out.lists[name] ??= []).push(value);
    } else {
      out.strings[name] = value;
    }
  }
  return out;
}
