/**
 * The rebuild memo: what a finished build depended on, so that the same command run again with nothing
 * changed can answer from it without loading the frontend and the solver (./replay.ts). A daemon such as
 * BuildKit keeps this state in memory; a daemonless builder keeps it on disk.
 *
 * One memo per command, at `state/memo/<key>.json`, where the key covers the build's identity (a hash
 * of the bundled code), the user, the working directory, the parsed flags (build-arg values included, progress
 * mode excluded) and the environment that changes a result (TSBUILD_*, SOURCE_DATE_EPOCH). The memo holds:
 * - inputs: the Dockerfile and .dockerignore candidates, by the sha256 of their text (or absent);
 * - witness: every context path a cache key depended on, with its lstat (src/context/witness.ts);
 * - bases and tags: image store names and the manifest digest each must still point to;
 * - tags: base images pulled by tag, which the normal path checks with their registry every build: the
 *   memo asks the same question with one HEAD of the manifest by tag (./tag-check.ts) and answers only
 *   when the tag still names the digest this build used (a moved tag sends the build down the normal path,
 *   which pulls it; `--pull` never uses a memo);
 * - blobs and records: what must still exist (manifest, config, layers; cache records and their
 *   snapshots), so that a prune, rmi or doctor --fix since then sends the build down the normal path;
 * - script: the progress events an unchanged build shows (every step CACHED), replayed as they are.
 * A memo is written only when every one of those facts is known: not when the registry was used for more
 * than resolving base images by tag (or could not be asked about one), an ADD URL without --checksum is
 * fetched (it is fetched each build), a witness entry is racy or a source path went through a symlink.
 * Memos are written atomically without fsync (an unreadable one is ignored). At most KEEP are kept.
 * TSBUILD_NO_MEMO=1 turns memos off; TSBUILD_MEMO_DEBUG=1 says on stderr why a memo was or was not used/kept.
 */
import { isRemoteContext } from './context-kind.js';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { BuildArgs } from './args.js';
import type { PathWitness, WitnessRow } from '../context/witness.js';
import type { Definition } from '../llb/types.js';
import type { BuildResult } from '../llb/result.js';
import type { ImageStore } from '../imagestore/types.js';
import type { CacheStore } from '../cache/store.js';
import type { ProgressEvent } from '../progress/types.js';
import type { TagCheck } from './tag-check.js';
import { writeFileAtomic } from '../fsutil/atomic.js';

const FORMAT = 2;
const KEEP = 64;

export interface MemoInput {
  path: string;
  /** sha256 hex of the file's text, or null when it did not exist. */
  sha256: string | null;
}

export interface RebuildMemo {
  format: typeof FORMAT;
  inputs: MemoInput[];
  witness: WitnessRow[];
  /** [name, manifest digest] pairs the image store must still hold: base images, then this build's tags. */
  names: [string, string][];
  /** Base images pulled by tag: the registry must still name the same digest (one HEAD each). */
  tags: TagCheck[];
  blobs: string[];
  /** [cache key, snapshot name] of every step. */
  records: [string, string][];
  /** Progress events to replay (their `at` is set at replay time). */
  script: ProgressEvent[];
}

/**
 * Flags any memo (this one, or the travelling one: ./travel-memo.ts) allows: one platform, the context a
 * local directory, nothing forced, asked about or written beside the image. TSBUILD_NO_MEMO=1 turns memos off.
 */
export function replayableFlags(args: BuildArgs): boolean {
  return (
    !process.env.TSBUILD_NO_MEMO &&
    !args.noCache &&
    args.noCacheFilter.length === 0 &&
    !args.explain &&
    !args.check &&
    args.call === 'build' &&
    !args.quiet &&
    !args.debug &&
    args.buildContexts.length === 0 &&
    (args.platforms ?? []).length <= 1 &&
    !isRemoteContext(args.context) &&
    !args.printDefinition &&
    !args.pull &&
    args.file !== '-' &&
    args.iidfile === undefined &&
    args.metadataFile === undefined &&
    args.sandbox.secrets.length === 0 &&
    args.sandbox.ssh.length === 0
  );
}

/** Commands the memo may answer: a plain build to the image store (or nowhere), no cache import or export. */
export function memoEligible(args: BuildArgs): boolean {
  return replayableFlags(args) && args.outputs.length === 0 && !args.load && !args.push && args.cacheFrom.length === 0 && args.cacheTo.length === 0;
}

/** The memo file for this command in the store at `root`, or undefined when this build has no identity. */
export function memoPath(root: string, args: BuildArgs): string | undefined {
  const id = buildIdentity();
  if (id === undefined) return undefined;
  const { progress: _progress, ...flags } = args;
  const env = Object.entries(process.env)
    .filter(([k]) => (k.startsWith('TSBUILD_') && k !== 'TSBUILD_MEMO_DEBUG') || k === 'SOURCE_DATE_EPOCH')
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const key = createHash('sha256')
    .update(JSON.stringify([FORMAT, id, process.getuid?.() ?? -1, process.cwd(), root, flags, env]))
    .digest('hex');
  return join(root, 'state', 'memo', `${key}.json`);
}

/** Set by scripts/bundle.mjs (esbuild define): a hash of the code being bundled. Absent from the tsc output. */
declare const __TSBUILD_BUILD_ID__: string | undefined;

/** The bundle's build id: a memo never outlives the code that wrote it. Unbundled code has none, so no memo. */
export function buildIdentity(): string | undefined {
  return typeof __TSBUILD_BUILD_ID__ === 'string' ? __TSBUILD_BUILD_ID__ : undefined;
}

export function sha256Text(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export function loadMemo(path: string): RebuildMemo | undefined {
  try {
    const m = JSON.parse(readFileSync(path, 'utf8')) as RebuildMemo;
    return m.format === FORMAT && Array.isArray(m.witness) && Array.isArray(m.script) && Array.isArray(m.tags) ? m : undefined;
  } catch {
    return undefined;
  }
}

/** True when every input still has the recorded text (or is still absent). */
export function inputsUnchanged(inputs: readonly MemoInput[]): boolean {
  for (const i of inputs) {
    let text: string | undefined;
    try {
      text = readFileSync(i.path, 'utf8');
    } catch {
      text = undefined;
    }
    if ((text === undefined ? null : sha256Text(text)) !== i.sha256) return false;
  }
  return true;
}

export interface MemoFacts {
  /** The registry client was used for more than resolving base images (a blob refetch, a cache import). */
  registryUsed: boolean;
  /** The tag checks of the base images (./resolve-image.ts), or why the registry could not vouch for one. */
  checks: TagCheck[] | { none: string };
  inputs: MemoInput[];
  witness: PathWitness;
  definition: Definition;
  result: BuildResult;
  manifest: string;
  config: string;
  /** Base image names the frontend resolved, and this build's tags (all normalized). */
  bases: string[];
  tags: string[];
  images: ImageStore;
  cache: CacheStore;
  /** Events shown before the solve (warnings, skipped stages). */
  shown: ProgressEvent[];
  /** The closing "writing image …" line. */
  message: string;
}

/** [name, manifest digest] of each of `names` in the image store (a memo checks they still hold), or why not. */
export async function storeNames(images: ImageStore, names: string[]): Promise<[string, string][] | { none: string }> {
  const out: [string, string][] = [];
  for (const name of names) {
    const rec = await images.get(name);
    if (!rec) return { none: `${name} is not in the image store` };
    out.push([name, rec.target.digest]);
  }
  return out;
}

/** The memo of a finished build, or why there is none. */
export async function composeMemo(f: MemoFacts): Promise<RebuildMemo | { none: string }> {
  if (f.registryUsed) return { none: 'the registry was used for more than checking base images' };
  if (!Array.isArray(f.checks)) return f.checks;
  const fetched = Object.values(f.definition.ops).some((op) => op.type === 'source' && op.source.kind === 'http' && op.source.checksum === undefined);
  if (fetched) return { none: 'an ADD URL without --checksum is fetched every build' };
  const w = f.witness.result();
  if ('distrusted' in w) return { none: w.distrusted };
  const names = await storeNames(f.images, [...f.bases, ...f.tags]);
  if (!Array.isArray(names)) return names;
  // Read together (each a record read and two stats): one after another they took ~2-3 ms a step on a loaded machine.
  const found = await Promise.all(f.result.vertices.map((v) => (v.cacheKey ? f.cache.get(v.cacheKey) : Promise.resolve(undefined))));
  const records: [string, string][] = [];
  for (const [i, v] of f.result.vertices.entries()) {
    const rec = found[i];
    if (!rec) return { none: `no cache record for ${v.name}` };
    records.push([rec.key, rec.snapshot]);
  }
  const script: ProgressEvent[] = [
    ...f.shown,
    ...f.result.vertices.map((v): ProgressEvent => ({ type: 'vertex.cached', id: v.id, name: v.name, at: 0 })),
    { type: 'vertex.started', id: 'export', name: 'exporting to image', at: 0 },
    { type: 'vertex.done', id: 'export', name: 'exporting to image', at: 0, durationMs: 0 },
    { type: 'info', message: f.message },
  ];
  return {
    format: FORMAT,
    inputs: f.inputs,
    witness: w.rows,
    names,
    tags: f.checks,
    blobs: [f.manifest, f.config, ...f.result.layers.map((l) => l.descriptor.digest)],
    records,
    script,
  };
}

/** Write the memo atomically, then drop the oldest memos beyond KEEP. */
export async function saveMemo(path: string, memo: RebuildMemo): Promise<void> {
  // No fsync: an unreadable memo is ignored, and an old one is checked fact by fact like any other.
  await writeFileAtomic(path, JSON.stringify(memo), { mkdir: true, mode: 0o600, durable: false });
  const dir = join(path, '..');
  const names = readdirSync(dir).filter((n) => n.endsWith('.json'));
  if (names.length <= KEEP) return;
  const aged = names
    .map((n) => ({ p: join(dir, n), t: statSync(join(dir, n), { throwIfNoEntry: false })?.mtimeMs ?? 0 }))
    .sort((a, b) => a.t - b.t);
  for (const { p } of aged.slice(0, names.length - KEEP)) {
    try {
      unlinkSync(p);
    } catch {
      // already gone (another build)
    }
  }
}
