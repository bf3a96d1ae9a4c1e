/**
 * The travelling rebuild memo: the rebuild memo (./rebuild-memo.ts) in a form that holds on another machine,
 * carried in the config of a registry cache (`--cache-to type=registry`, field `memo`, see ARCHITECTURE.md
 * "Cache that travels"). A CI job on a fresh machine that runs the same command on the same sources with
 * `--cache-from` that cache and pushes its image gets, from the normal path, every step CACHED and the very
 * image the exporting job built; ./travel-replay.ts gives that answer without loading the CLI: it checks the
 * memo's facts and pushes the recorded image by mounting its blobs from the cache's repository.
 *
 * The facts, none of which depends on the machine (paths are relative to the context, content by hash):
 * - key: the command (bundle build id, the parsed flags that can change the image: all but the proxy build
 *   args (never in a key: they may hold credentials), --progress, the
 *   context and Dockerfile paths, the outputs and their names, --cache-from/--cache-to, --insecure-registry;
 *   and the environment that changes an all-CACHED build's image: SOURCE_DATE_EPOCH, TSBUILD_GZIP),
 *   with the Dockerfile's path relative to the context;
 * - inputs: the Dockerfile and .dockerignore candidates (relative to the context), by sha256 or absent;
 * - paths + context: every context path a cache key depended on (the lstat witness's paths,
 *   src/context/witness.ts), and one sha256 over what each is: absent, a directory (mode, sorted entry names),
 *   a file (mode, content sha256), a symlink (target);
 * - names: base images taken from the image store (name → manifest digest), tags: base images resolved by
 *   tag in a registry (./tag-check.ts; one HEAD each, as the normal path);
 * - image: the image's manifest and config, as text; pushed: the repositories the build pushed it to;
 * - cache: the mode and attributes of the export that carried it (a command whose --cache-to asks for the same
 *   export into the same ref leaves that cache as it is: it already holds this build);
 * - script: the progress the normal path shows before the export (warnings, skipped stages, CACHED steps).
 * Everything in it came from a registry: parseTravelMemo checks every field; a path must stay inside the
 * context and is never resolved through a symlink.
 */
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import { isAbsolute, join, relative, sep } from 'node:path';
import type { BuildArgs } from './args.js';
import type { OutputSpec } from './outputs.js';
import type { CacheSpec } from './cache-specs.js';
import type { ProgressEvent } from '../progress/types.js';
import type { TagCheck } from './tag-check.js';
import type { PathWitness } from '../context/witness.js';
import type { Definition } from '../llb/types.js';
import type { ImageStore } from '../imagestore/types.js';
import { buildIdentity, replayableFlags, storeNames } from './rebuild-memo.js';
import { parseReference } from '../image/reference.js';
import { PROXY_ARGS } from '../llb/proxy-args.js';
import { printable as printableText } from '../cache/remote/format.js';
import { fileHash } from '../context/checksum.js';
import type { StatCache } from '../context/statcache.js';

export const TRAVEL_MEMO_VERSION = 1;
/** At most this many witness paths travel (a bigger context keeps no travelling memo). */
export const MAX_TRAVEL_PATHS = 200_000;

export interface TravelMemo {
  version: typeof TRAVEL_MEMO_VERSION;
  key: string;
  inputs: { path: string; sha256: string | null }[];
  paths: string[];
  context: string;
  names: [string, string][];
  tags: Omit<TagCheck, 'insecure' | 'bare'>[];
  /** The manifest and config pushed. */
  image: { manifest: string; config: string };
  /** The repositories the exporting build pushed the image to (where its blobs are, base layers included). */
  pushed: { domain: string; path: string }[];
  cache: { mode: 'min' | 'max'; attrs: Record<string, string> };
  script: ProgressEvent[];
}

/**
 * The environment that changes the image of a build whose every step hits: the epoch of its timestamps and
 * the gzip engine. The rest (the store, the runtime, rootless mode, retries, certificates, debug output)
 * changes where or how steps would run, which the cache keys do not cover either.
 */
const ENV_KEYED = ['SOURCE_DATE_EPOCH', 'TSBUILD_GZIP'];

/** An output the replay can give: a plain push (`-o type=registry[,name=…][,push=true]`). */
function plainPush(o: OutputSpec): boolean {
  return o.type === 'registry' && o.attrs.push !== 'false' && Object.keys(o.attrs).every((k) => k === 'type' || k === 'name' || k === 'push');
}

/** The names an output writes: its own `name=` (comma-separated), else the build's -t names. */
export function outputNames(o: { name?: string }, tags: string[]): string[] {
  return o.name ? o.name.split(',').map((n) => n.trim()).filter(Boolean) : tags;
}

/** The command's flags allow a travelling memo at all (either side): one image, its facts all checkable. */
function portable(args: BuildArgs): boolean {
  // Annotations and an inline cache change the pushed manifest or config in ways the key does not cover.
  return replayableFlags(args) && Object.keys(args.annotations).length === 0 && !args.cacheTo.some((c) => c.type === 'inline');
}

/** Every output is a plain push (so each pushes the same manifest: the registry default of the image). */
function pushesOnly(args: BuildArgs): boolean {
  return args.outputs.length > 0 && args.outputs.every(plainPush) && args.outputs.every((o) => outputNames(o, args.tags).length > 0) && !args.load && !args.push;
}

/**
 * The registry cache exports of a build that may carry a travelling memo: its image is pushed (the memo
 * records the manifest pushed) and the export keeps the layers' compression (the image's layers are the cache's).
 */
export function memoCarriers(args: BuildArgs): CacheSpec[] {
  return portable(args) && pushesOnly(args) ? args.cacheTo.filter((c) => c.type === 'registry' && c.layers.compression === undefined && !c.layers.force) : [];
}

/**
 * The command a travelling memo may answer: every output a plain push, the first --cache-from a registry
 * cache, and any --cache-to a registry export (the replay checks it is the memo's own).
 */
export function travelEligible(args: BuildArgs): boolean {
  return (
    portable(args) &&
    pushesOnly(args) &&
    args.cacheFrom[0]?.type === 'registry' &&
    args.cacheTo.every((c) => c.type === 'registry')
  );
}

/** The command's portable key, or undefined when it has none (unbundled code, a Dockerfile outside the context). */
export function travelKey(args: BuildArgs, contextDir: string, dockerfilePath: string): string | undefined {
  const id = buildIdentity();
  const file = relative(contextDir, dockerfilePath);
  if (id === undefined || file === '' || file.startsWith('..') || isAbsolute(file)) return undefined;
  const { progress: _p, root: _r, context: _c, file: _f, outputs: _o, tags: _t, cacheFrom: _cf, cacheTo: _ct, notes: _n, insecureRegistries: _i, ...rest } = args;
  // The proxy args never enter a key (they may hold credentials; the cache keys leave them out too).
  const flags = { ...rest, buildArgs: Object.fromEntries(Object.entries(args.buildArgs).filter(([k]) => !PROXY_ARGS.includes(k))) };
  const env = ENV_KEYED.map((k) => process.env[k] ?? null);
  return createHash('sha256').update(JSON.stringify([TRAVEL_MEMO_VERSION, id, file.split(sep).join('/'), flags, env])).digest('hex');
}

/** A path the memo may name: relative, `/`-separated, no `.`/`..`/empty segment, no NUL ('' is the context itself). */
export function safeRelativePath(p: unknown): p is string {
  if (typeof p !== 'string' || p.length > 4096 || p.includes('\0') || p.includes('\\')) return false;
  if (p === '') return true;
  return !p.startsWith('/') && p.split('/').every((s) => s !== '' && s !== '.' && s !== '..');
}

/**
 * One sha256 over what each of `paths` is under `contextDir`, or undefined when one cannot be vouched for
 * (an unsafe path, an ancestor that is not a directory, an unreadable entry). `seen(path, st)` may refuse an
 * entry (the exporting build: its lstat must be the one the build saw); `statCache` (the exporting build's
 * store's) gives the content hash of a file the build already hashed, as it does for COPY checksums.
 */
export function contextDigest(contextDir: string, paths: readonly string[], opts: { seen?: (rel: string, st: Stats | undefined) => boolean; statCache?: StatCache } = {}): string | undefined {
  const { seen, statCache } = opts;
  const h = createHash('sha256');
  const dirs = new Map<string, boolean>([['', true]]);
  // An ancestor must be a real directory: a symlink on the way would read outside what the path names.
  const isDir = (rel: string): boolean => {
    let ok = dirs.get(rel);
    if (ok === undefined) {
      const cut = rel.lastIndexOf('/');
      ok = isDir(cut < 0 ? '' : rel.slice(0, cut)) && lstatSync(join(contextDir, rel), { throwIfNoEntry: false })?.isDirectory() === true;
      dirs.set(rel, ok);
    }
    return ok;
  };
  try {
    for (const rel of paths) {
      if (!safeRelativePath(rel)) return undefined;
      const cut = rel.lastIndexOf('/');
      const parent = rel === '' ? '' : cut < 0 ? '' : rel.slice(0, cut);
      const full = rel === '' ? contextDir : join(contextDir, rel);
      const st = isDir(parent) ? lstatSync(full, { throwIfNoEntry: false }) : undefined;
      if (seen && !seen(rel, st)) return undefined;
      h.update(rel).update('\0');
      if (!st) h.update('absent');
      else if (st.isDirectory()) h.update(`dir ${st.mode & 0o7777} `).update(readdirSync(full).sort().join('\0'));
      else if (st.isFile()) h.update(`file ${st.mode & 0o7777} `).update(fileHash(full, st, statCache)); // as a COPY's checksum hashes it
      else if (st.isSymbolicLink()) h.update('link ').update(readlinkSync(full));
      else h.update(`other ${st.mode}`);
      h.update('\n');
    }
  } catch {
    return undefined;
  }
  return h.digest('hex');
}

const HEX64 = /^[0-9a-f]{64}$/;
/** A repository path as the distribution spec allows it (it goes into request paths). */
const REPO_PATH = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const DOMAIN = /^[A-Za-z0-9.-]+(?::\d+)?$|^\[[0-9A-Fa-f:.]+\](?::\d+)?$/;
const repository = (d: unknown, p: unknown): boolean => str(d, 300) && DOMAIN.test(d) && str(p, 300) && REPO_PATH.test(p);
const DIGEST = /^sha256:[0-9a-f]{64}$/;
const MAX_TEXT = 4 * 1024 * 1024;

/** A memo's text, safe to print (as a cache source's step names: src/cache/remote/format.ts). */
const printable = (s: string): string => printableText(s, 500);

const str = (v: unknown, max = 4096): v is string => typeof v === 'string' && v.length <= max;

/** The progress events a memo may replay (warnings, skipped stages, CACHED steps), made printable; else undefined. */
function parseScript(v: unknown): ProgressEvent[] | undefined {
  if (!Array.isArray(v) || v.length > 100_000) return undefined;
  const out: ProgressEvent[] = [];
  for (const e of v as Record<string, unknown>[]) {
    if (!e || typeof e !== 'object') return undefined;
    if (e.type === 'vertex.cached' && str(e.id) && str(e.name)) out.push({ type: 'vertex.cached', id: printable(e.id), name: printable(e.name), at: 0 });
    else if (e.type === 'vertex.skipped' && str(e.id) && str(e.name) && str(e.reason)) out.push({ type: 'vertex.skipped', id: printable(e.id), name: printable(e.name), reason: printable(e.reason) });
    else if (e.type === 'warning' && str(e.message) && (e.file === undefined || str(e.file)) && (e.line === undefined || Number.isSafeInteger(e.line))) {
      out.push({ type: 'warning', message: printable(e.message), ...(e.file !== undefined ? { file: printable(e.file as string) } : {}), ...(e.line !== undefined ? { line: e.line as number } : {}) });
    } else return undefined;
  }
  return out;
}

/** A memo read from a cache config (untrusted), every field checked; else why not. */
export function parseTravelMemo(v: unknown): TravelMemo | { none: string } {
  const m = v as Record<string, unknown>;
  if (!m || typeof m !== 'object' || Array.isArray(m)) return { none: 'the cache carries no rebuild memo' };
  if (m.version !== TRAVEL_MEMO_VERSION) return { none: `unknown rebuild memo version ${JSON.stringify(m.version)}` };
  if (!str(m.key) || !HEX64.test(m.key) || !str(m.context) || !HEX64.test(m.context)) return { none: 'invalid key' };
  const inputs = m.inputs as TravelMemo['inputs'];
  if (!Array.isArray(inputs) || inputs.length > 8 || !inputs.every((i) => i && safeRelativePath(i.path) && i.path !== '' && (i.sha256 === null || (str(i.sha256) && HEX64.test(i.sha256))))) return { none: 'invalid inputs' };
  const paths = m.paths as string[];
  if (!Array.isArray(paths) || paths.length > MAX_TRAVEL_PATHS || !paths.every(safeRelativePath)) return { none: 'invalid context paths' };
  const names = m.names as [string, string][];
  if (!Array.isArray(names) || names.length > 1000 || !names.every((n) => Array.isArray(n) && n.length === 2 && str(n[0]) && str(n[1]) && DIGEST.test(n[1]))) return { none: 'invalid base names' };
  const tags = m.tags as TravelMemo['tags'];
  if (!Array.isArray(tags) || tags.length > 1000 || !tags.every((t) => t && str(t.name) && repository(t.domain, t.path) && str(t.tag, 200) && /^[\w][\w.-]*$/.test(t.tag) && str(t.digest) && DIGEST.test(t.digest) && str(t.base, 400))) return { none: 'invalid base tags' };
  const image = m.image as TravelMemo['image'];
  if (!image || typeof image !== 'object' || !str(image.manifest, MAX_TEXT) || !str(image.config, MAX_TEXT)) return { none: 'invalid image' };
  const pushed = m.pushed as TravelMemo['pushed'];
  if (!Array.isArray(pushed) || pushed.length > 100 || !pushed.every((r) => r && repository(r.domain, r.path))) return { none: 'invalid pushed repositories' };
  const cache = m.cache as TravelMemo['cache'];
  if (!cache || (cache.mode !== 'min' && cache.mode !== 'max') || !cache.attrs || typeof cache.attrs !== 'object' || !Object.values(cache.attrs).every((a) => str(a))) return { none: 'invalid cache spec' };
  const script = parseScript(m.script);
  if (!script) return { none: 'invalid progress script' };
  return {
    version: TRAVEL_MEMO_VERSION,
    key: m.key,
    inputs: inputs.map((i) => ({ path: i.path, sha256: i.sha256 })),
    paths,
    context: m.context,
    names: names.map(([n, d]) => [n, d]),
    tags: tags.map((t) => ({ name: t.name, domain: t.domain, path: t.path, tag: t.tag, digest: t.digest, base: t.base })),
    image: { manifest: image.manifest, config: image.config },
    pushed: pushed.map((r) => ({ domain: r.domain, path: r.path })),
    cache: { mode: cache.mode, attrs: { ...cache.attrs } },
    script,
  };
}

/** The export spec a memo records: its mode and attributes apart from the ref and ignore-error. */
export function cacheSpecOf(spec: CacheSpec): TravelMemo['cache'] {
  const attrs: Record<string, string> = {};
  for (const k of Object.keys(spec.attrs).sort()) if (k !== 'ref' && k !== 'ignore-error' && k !== 'type' && k !== 'mode') attrs[k] = spec.attrs[k]!;
  return { mode: spec.mode, attrs };
}

export interface TravelFacts {
  args: BuildArgs;
  contextDir: string;
  dockerfilePath: string;
  /** The Dockerfile and .dockerignore candidates (host paths) with the sha256 of their text, or null when absent. */
  inputs: { path: string; sha256: string | null }[];
  witness: PathWitness;
  /** The store's stat cache: files the build hashed are not read again. */
  statCache?: StatCache;
  definition: Definition;
  /** The base images' tag checks (build.ts tagChecks), or why one cannot be repeated. */
  checks: TagCheck[] | { none: string };
  /** Normalized names of the base images. */
  bases: string[];
  images: ImageStore;
  manifest: Buffer;
  config: Buffer;
  /** Where the build pushed it (normalized names). */
  pushed: string[];
  /** Events shown before the solve (warnings, skipped stages), and the steps. */
  shown: ProgressEvent[];
  steps: { id: string; name: string }[];
}

/** The travelling memo of a finished build (all but the export spec), or why there is none. */
export async function composeTravelMemo(f: TravelFacts): Promise<Omit<TravelMemo, 'cache'> | { none: string }> {
  const key = travelKey(f.args, f.contextDir, f.dockerfilePath);
  if (key === undefined) return { none: 'the Dockerfile is outside the context (or this tsbuild is not bundled)' };
  if (!Array.isArray(f.checks)) return f.checks;
  const sources = Object.values(f.definition.ops).filter((op) => op.type === 'source');
  if (sources.some((op) => op.source.kind !== 'image' && op.source.kind !== 'local' && op.source.kind !== 'scratch' && !(op.source.kind === 'http' && op.source.checksum !== undefined))) {
    return { none: 'a source other than the context, an image or a checksummed URL is read' };
  }
  const rel = (p: string): string | undefined => {
    const r = relative(f.contextDir, p);
    return r.startsWith('..') || isAbsolute(r) ? undefined : r.split(sep).join('/');
  };
  const inputs: TravelMemo['inputs'] = [];
  for (const i of f.inputs) {
    const r = rel(i.path);
    if (r === undefined || r === '') return { none: `${i.path} is outside the context` };
    inputs.push({ path: r, sha256: i.sha256 });
  }
  const w = f.witness.result();
  if ('distrusted' in w) return { none: w.distrusted };
  const seen = new Map<string, (typeof w.rows)[number]>();
  for (const row of w.rows) {
    const r = rel(row[0]);
    if (r === undefined) return { none: `${row[0]} is outside the context` };
    seen.set(r, row);
  }
  if (seen.size > MAX_TRAVEL_PATHS) return { none: `the context has over ${MAX_TRAVEL_PATHS} paths` };
  const paths = [...seen.keys()];
  // What is hashed must be what the build read: each entry's lstat is still the one the build saw.
  const context = contextDigest(f.contextDir, paths, {
    seen: (r, st) => {
      const row = seen.get(r)!;
      if (row.length === 1) return st === undefined;
      return !!st && st.mtimeMs === row[1] && st.ctimeMs === row[2] && st.ino === row[3] && st.size === row[4] && st.mode === row[5];
    },
    ...(f.statCache ? { statCache: f.statCache } : {}),
  });
  if (context === undefined) return { none: 'a context entry changed during the build or cannot be read' };
  const checked = new Set(f.checks.map((c) => c.name));
  const names = await storeNames(f.images, f.bases.filter((b) => !checked.has(b)));
  if (!Array.isArray(names)) return names;
  return {
    version: TRAVEL_MEMO_VERSION,
    key,
    inputs,
    paths,
    context,
    names,
    tags: f.checks.map((c) => ({ name: c.name, domain: c.domain, path: c.path, tag: c.tag, digest: c.digest, base: c.base })),
    image: { manifest: f.manifest.toString('utf8'), config: f.config.toString('utf8') },
    pushed: [...new Map(f.pushed.map((n) => parseReference(n)).map((r) => [`${r.domain}/${r.path}`, { domain: r.domain, path: r.path }])).values()],
    script: [...f.shown, ...f.steps.map((s): ProgressEvent => ({ type: 'vertex.cached', id: s.id, name: s.name, at: 0 }))],
  };
}
