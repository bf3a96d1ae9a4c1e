/**
 * The `docker buildx build` flags that make tsbuild a drop-in (buildx's syntax and meaning, see
 * docs/reference/buildx_build.md in docker/buildx): --platform, --build-context, --add-host, --annotation,
 * --call/--check/--print, --provenance/--sbom/--attest, -D/--debug, --builder, and the legacy `docker build`
 * flags buildx still accepts (./legacy-flags.ts). Parsing only: args.ts spreads BUILDX_OPTIONS into its
 * option table and calls parseBuildxArgs; build.ts applies the result.
 */
import { isIP } from 'node:net';
import { UsageError } from '../errors.js';
import { hostPlatform, parsePlatform, parsePlatformList, platformMatches } from '../image/platform.js';
import type { Platform } from '../image/types.js';
import { LEGACY_OPTIONS, legacyNotes } from './legacy-flags.js';
import { isGitContext, isUrlContext } from './context-kind.js';

/** parseArgs option definitions for these flags. */
export const BUILDX_OPTIONS = {
  platform: { type: 'string', multiple: true },
  'build-context': { type: 'string', multiple: true },
  'add-host': { type: 'string', multiple: true },
  annotation: { type: 'string', multiple: true },
  call: { type: 'string' },
  /** Hidden buildx alias of --call (experimental there). */
  print: { type: 'string' },
  provenance: { type: 'string' },
  sbom: { type: 'string' },
  attest: { type: 'string', multiple: true },
  debug: { type: 'boolean', short: 'D' },
  builder: { type: 'string' },
  ...LEGACY_OPTIONS,
} as const;

/** What `--call` asks for: a build (default), the build checks, the build's arguments, or its stages. */
export type CallMode = 'build' | 'check' | 'outline' | 'targets';

/** `--build-context NAME=VALUE`. */
export type BuildContext =
  | { name: string; kind: 'local'; path: string }
  | { name: string; kind: 'image'; ref: string }
  | { name: string; kind: 'oci-layout'; dir: string; tag?: string; digest?: string }
  /** A git repository or an http(s) tarball, fetched as a build context would be (./remote-context.ts). */
  | { name: string; kind: 'remote'; url: string };

export interface BuildxArgs {
  /** The first target platform (normalised); the host's when --platform is not given. */
  platform: Platform;
  /** Every target platform, in order (normalised); [platform] for a one-platform build. */
  platforms: Platform[];
  buildContexts: BuildContext[];
  /** --add-host NAME:IP, in order. */
  extraHosts: { host: string; ip: string }[];
  /** --annotation, as exporter attributes (`annotation-manifest.KEY`, `annotation-index.KEY`). */
  annotations: Record<string, string>;
  call: CallMode;
  debug: boolean;
  /** One-line warnings for flags that are accepted and do nothing (printed once per build). */
  notes: string[];
}

type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

export function parseBuildxArgs(values: Values, opts: { check: boolean; explicitFalse: ReadonlySet<string> }): BuildxArgs {
  const str = (k: string) => values[k] as string | undefined;
  const list = (k: string) => (values[k] as string[] | undefined) ?? [];
  const notes = legacyNotes(values, opts.explicitFalse);
  const builder = str('builder');
  if (builder !== undefined) notes.push(`--builder ${builder}: tsbuild has no builder instances; the flag is ignored`);
  attestations(str('provenance'), str('sbom'), list('attest'));
  const platforms = targetPlatforms(list('platform'));
  return {
    platform: platforms[0]!,
    platforms,
    buildContexts: list('build-context').map(parseBuildContext),
    extraHosts: list('add-host').flatMap((v) => v.split(',')).map(parseAddHost),
    annotations: parseAnnotations(list('annotation'), platforms),
    call: callMode(str('call') ?? str('print'), opts.check),
    debug: values.debug === true,
    notes,
  };
}

/**
 * `--platform` (repeatable, comma-separated), else `DOCKER_DEFAULT_PLATFORM` (as buildx), else this host. A
 * platform this host cannot run natively is checked when a step of it runs (emulation, src/executor/emulation.ts).
 */
function targetPlatforms(list: string[]): Platform[] {
  const env = process.env.DOCKER_DEFAULT_PLATFORM;
  const from = list.length > 0 ? '--platform' : 'DOCKER_DEFAULT_PLATFORM';
  const parsed = parsePlatformList(list.length > 0 ? list : env ? [env] : []);
  if ('bad' in parsed) throw new UsageError(`invalid ${from} "${parsed.bad}": expected os/arch[/variant], e.g. linux/amd64 or linux/arm64`);
  return parsed.platforms.length > 0 ? parsed.platforms : [hostPlatform()];
}

/** `NAME=PATH`, `NAME=docker-image://REF`, `NAME=oci-layout://DIR[:TAG|@DIGEST]`. */
export function parseBuildContext(v: string): BuildContext {
  const eq = v.indexOf('=');
  const name = eq > 0 ? v.slice(0, eq).trim() : '';
  const value = eq > 0 ? v.slice(eq + 1).trim() : '';
  if (name === '' || value === '') throw new UsageError(`invalid --build-context "${v}": expected NAME=PATH, NAME=docker-image://REF or NAME=oci-layout://DIR[:TAG]`);
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_./:-]*$/.test(name)) throw new UsageError(`invalid --build-context "${v}": "${name}" is not a valid context name`);
  const lname = name.toLowerCase();
  if (value.startsWith('docker-image://')) {
    const ref = value.slice('docker-image://'.length);
    if (ref === '') throw new UsageError(`invalid --build-context "${v}": docker-image:// needs an image reference`);
    return { name: lname, kind: 'image', ref };
  }
  if (value.startsWith('oci-layout://')) {
    let dir = value.slice('oci-layout://'.length);
    const out: BuildContext = { name: lname, kind: 'oci-layout', dir };
    const at = dir.lastIndexOf('@');
    if (at > 0) {
      out.digest = dir.slice(at + 1);
      dir = dir.slice(0, at);
      if (!/^sha256:[0-9a-f]{64}$/.test(out.digest)) throw new UsageError(`invalid --build-context "${v}": "${out.digest}" is not a sha256 digest`);
    } else {
      const colon = dir.lastIndexOf(':');
      if (colon > dir.lastIndexOf('/')) {
        out.tag = dir.slice(colon + 1);
        dir = dir.slice(0, colon);
      }
    }
    if (dir === '') throw new UsageError(`invalid --build-context "${v}": oci-layout:// needs a directory`);
    out.dir = dir;
    return out;
  }
  if (isGitContext(value) || isUrlContext(value)) return { name: lname, kind: 'remote', url: value };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value) || value.startsWith('target:')) {
    throw new UsageError(`invalid --build-context "${v}": expected a directory, a git or https URL, docker-image:// or oci-layout://`);
  }
  return { name: lname, kind: 'local', path: value };
}

/** `--add-host NAME:IP` (also NAME=IP); IPv6 addresses keep their colons. */
export function parseAddHost(v: string): { host: string; ip: string } {
  const eq = v.indexOf('=');
  const sep = eq >= 0 ? eq : v.indexOf(':');
  const host = sep > 0 ? v.slice(0, sep).trim() : '';
  let ip = sep > 0 ? v.slice(sep + 1).trim() : '';
  if (ip.startsWith('[') && ip.endsWith(']')) ip = ip.slice(1, -1);
  if (ip === 'host-gateway') throw new UsageError(`invalid --add-host "${v}": host-gateway is not supported (give the address)`);
  if (host === '' || !/^[A-Za-z0-9_.-]+$/.test(host) || isIP(ip) === 0) {
    throw new UsageError(`invalid --add-host "${v}": expected HOST:IP, e.g. db.local:10.0.0.5`);
  }
  return { host, ip };
}

/** `--annotation [TYPE[,TYPE]:]KEY=VALUE` with TYPE manifest (default), index or manifest-descriptor. */
export function parseAnnotations(list: string[], platforms: Platform[] = [hostPlatform()]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of list) {
    const m = /^(?:([a-z-]+(?:,[a-z-]+)*)(\[[^\]]*\])?:)?([^=\s]+)=(.*)$/s.exec(v);
    if (!m) throw new UsageError(`invalid --annotation "${v}": expected [TYPE:]KEY=VALUE`);
    if (m[2] !== undefined) {
      const p = parsePlatform(m[2].slice(1, -1));
      if (!p || !platforms.some((q) => platformMatches(p, q))) throw new UsageError(`invalid --annotation "${v}": ${m[2]} is not the platform of this build`);
      if (platforms.length > 1) throw new UsageError(`--annotation "${v}": annotations for one platform of a multi-platform build are not supported yet`);
    }
    for (const type of (m[1] ?? 'manifest').split(',')) {
      if (type !== 'manifest' && type !== 'index' && type !== 'manifest-descriptor') {
        throw new UsageError(`invalid --annotation "${v}": unknown type "${type}" (manifest, index or manifest-descriptor)`);
      }
      out[`annotation-${type === 'index' ? 'index' : 'manifest'}.${m[3]}`] = m[4]!;
    }
  }
  return out;
}

function callMode(v: string | undefined, check: boolean): CallMode {
  if (check) {
    if (v !== undefined && v !== 'check') throw new UsageError(`--check is --call=check: it cannot be combined with --call=${v}`);
    return 'check';
  }
  if (v === undefined) return 'build';
  const name = v.split(',')[0]!.trim();
  if (name === 'build' || name === 'check' || name === 'outline' || name === 'targets') return name;
  if (name === 'lint') return 'check';
  throw new UsageError(`invalid --call "${v}": expected build, check, outline or targets`);
}

/** true/1/yes style values; anything else is a CSV of options, which means enabled. */
function enabled(v: string): boolean {
  const t = v.trim().toLowerCase();
  if (['false', '0', 'f', 'no', 'off'].includes(t)) return false;
  if (/(^|,)disabled=true(,|$)/.test(t)) return false;
  return true;
}

/** --provenance, --sbom, --attest: accepted when they turn attestations off; tsbuild makes none. */
function attestations(provenance: string | undefined, sbom: string | undefined, attest: string[]): void {
  const wanted: string[] = [];
  if (provenance !== undefined && enabled(provenance)) wanted.push(`--provenance=${provenance}`);
  if (sbom !== undefined && enabled(sbom)) wanted.push(`--sbom=${sbom}`);
  for (const a of attest) {
    const type = /(?:^|,)type=([^,]*)/.exec(a)?.[1];
    if (type !== 'provenance' && type !== 'sbom') throw new UsageError(`invalid --attest "${a}": expected type=provenance or type=sbom`);
    if (enabled(a.replace(/(?:^|,)type=[^,]*/, ''))) wanted.push(`--attest ${a}`);
  }
  if (wanted.length > 0) {
    throw new UsageError(`${wanted.join(', ')}: tsbuild does not make provenance or SBOM attestations`, {
      hint: 'pass --provenance=false / --sbom=false (images are built without attestations)',
    });
  }
}
