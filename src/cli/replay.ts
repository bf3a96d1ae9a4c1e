/**
 * The no-op rebuild: when this exact command built before and nothing it depended on changed (see
 * ./rebuild-memo.ts), show that build's all-CACHED progress again and exit, without loading the frontend
 * or the solver. Anything that does not check out, including an unreadable memo or any error, sends the
 * command down the normal build path, which reaches the same result the slow way.
 *
 * bin/tsbuild loads this module first, as one self-contained CommonJS file (scripts/bundle.mjs), because
 * an unchanged rebuild is mostly process start-up.
 */
import { utimesSync } from 'node:fs';
import { parseBuildArgs } from './args.js';
import { storeRoot, storeLayout } from './store-root.js';
import { inputsUnchanged, loadMemo, memoEligible, memoPath, type RebuildMemo } from './rebuild-memo.js';
import { travelEligible } from './travel-memo.js';
import { replayTravelling } from './travel-replay.js';
import { selectRenderer } from './render/select.js';
import { COMMAND_HELP } from './help.js';
import { firstChanged } from '../context/witness.js';
import { LocalImageStore } from '../imagestore/store.js';
import { LocalContentStore } from '../content/store.js';
import { CacheStore } from '../cache/store.js';
import { OverlaySnapshotter } from '../snapshot/overlay.js';
import { headTag, type TagCheck, type TagState } from './tag-check.js';

// bin/tsbuild answers help and the version from here, before it loads the CLI (./instant.ts).
export { instantAnswer } from './instant.js';

/** The full registry client's tag check (./tag-check-full.ts), loaded only when a bare HEAD cannot tell. */
export type FullTagCheck = () => Promise<{ checkTagWithClient(root: string, checks: TagCheck[], insecure: string[]): Promise<TagState[]> }>;

/** First words that are not a build (src/cli/main.ts dispatches them; -D/--debug runs are never replayed). */
const OTHER_COMMANDS = new Set(['help', '-D', '--debug', ...Object.keys(COMMAND_HELP)]);

/** The build's arguments when `argv` asks for a build (not another command, not help or the version). */
function buildArgv(argv: string[]): string[] | undefined {
  if (OTHER_COMMANDS.has(argv[0] ?? '')) return undefined;
  const rest = argv[0] === 'build' || argv[0] === 'b' ? argv.slice(1) : argv;
  return rest.some((a) => a === '-h' || a === '--help' || a === '--version' || a === '-v') ? undefined : rest;
}

/** `argv` asks for a build (bin/tsbuild writes the code cache after a successful one: src/cli/code-cache.ts). */
export function isBuildCommand(argv: string[]): boolean {
  return buildArgv(argv) !== undefined;
}

/** The exit code when the memo answered `tsbuild [build] ARGS`; undefined when the command must run. */
export async function replayCommand(argv: string[], fullTagCheck?: FullTagCheck): Promise<number | undefined> {
  const rest = buildArgv(argv);
  if (rest === undefined) return undefined;
  try {
    return await tryReplay(rest, fullTagCheck);
  } catch {
    return undefined;
  }
}

/** The exit code when the memo answered the build; undefined when the build must run. */
async function tryReplay(argv: string[], fullTagCheck: FullTagCheck | undefined): Promise<number | undefined> {
  const started = Date.now();
  let args;
  try {
    args = parseBuildArgs(argv);
  } catch {
    return undefined; // the normal path reports it
  }
  // A fresh machine's push with --cache-from: the memo the cache carries (./travel-replay.ts).
  if (!memoEligible(args)) return travelEligible(args) ? replayTravelling(args, started) : undefined;
  const root = storeRoot(args.root);
  const path = memoPath(root, args);
  const memo = path === undefined ? undefined : loadMemo(path);
  if (!memo) return said('no memo of this command');
  if (!inputsUnchanged(memo.inputs)) return said('the Dockerfile or .dockerignore changed');
  const changed = firstChanged(memo.witness);
  if (changed !== undefined) return said(`${changed} changed`);
  const cache = await storeStillHolds(memo, root);
  if (!cache) return said('an image, blob, cache record or snapshot it used is gone');
  const stale = await tagsStillName(memo.tags, root, args.insecureRegistries, fullTagCheck);
  if (stale !== undefined) return said(stale);
  // A hit marks its record used, as the normal path does (prune --filter until= reads it).
  const now = new Date();
  for (const [key] of memo.records) utimesSync(cache.recordPath(key), now, now);
  said('replayed');
  for (const n of args.notes) process.stderr.write(`WARNING: ${n}\n`);

  const progress = selectRenderer(args.progress);
  for (const e of memo.script) {
    const at = Date.now();
    if (e.type === 'vertex.done') progress.emit({ ...e, at, durationMs: 0 });
    else progress.emit('at' in e ? { ...e, at } : e);
  }
  progress.emit({ type: 'info', message: `build finished in ${((Date.now() - started) / 1000).toFixed(2)}s` });
  progress.close();
  return 0;
}

/** TSBUILD_MEMO_DEBUG=1: say on stderr whether the memo answered, and if not why. */
function said(what: string): undefined {
  if (process.env.TSBUILD_MEMO_DEBUG) process.stderr.write(`rebuild memo: ${what}\n`);
  return undefined;
}

/**
 * Undefined when every base image tag still names the digest the memo's build used (one bare HEAD each,
 * the full client for those it could not tell); else why the build must run.
 */
async function tagsStillName(checks: TagCheck[], root: string, insecure: string[], full: FullTagCheck | undefined): Promise<string | undefined> {
  if (checks.length === 0) return undefined;
  const states = await Promise.all(checks.map((c) => headTag(c)));
  const retry = checks.filter((_, i) => { const s = states[i]!; return s.state === 'unknown' && s.client === true; });
  if (retry.length > 0 && full) {
    const again = await (await full()).checkTagWithClient(root, retry, insecure);
    for (const [j, c] of retry.entries()) states[checks.indexOf(c)] = again[j]!;
  }
  for (const [i, s] of states.entries()) {
    const name = checks[i]!.name;
    if (s.state === 'moved') return `${name} moved in its registry (now ${s.digest})`;
    if (s.state === 'unknown') return `${name}: the registry did not confirm the tag (${s.why})`;
  }
  return undefined;
}

/** The cache store when every name, blob, record and snapshot the memo needs is still there. */
async function storeStillHolds(memo: RebuildMemo, root: string): Promise<CacheStore | undefined> {
  const layout = storeLayout(root);
  const images = new LocalImageStore(layout.images);
  const content = new LocalContentStore(layout.content);
  const snapshots = new OverlaySnapshotter(layout.snapshots);
  // A record whose snapshot is gone but whose layer is present still holds (the solver restores it when needed).
  const cache = new CacheStore({
    dir: layout.cache,
    snapshotExists: async (name) => (await snapshots.stat(name))?.kind === 'committed',
    layerExists: (layer) => content.has(layer.descriptor.digest),
  });
  const checks = await Promise.all([
    ...memo.names.map(async ([name, digest]) => (await images.get(name))?.target.digest === digest),
    ...memo.blobs.map((d) => content.has(d)),
    ...memo.records.map(async ([key, snapshot]) => (await cache.get(key))?.snapshot === snapshot),
  ]);
  return checks.every(Boolean) ? cache : undefined;
}
