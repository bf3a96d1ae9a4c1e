/**
 * The solver's entry point: Definition → BuildResult, with a persistent cache under `cacheDir`
 * (records/<key hex>.json, statcache/). See ./scheduler.ts for how vertices are run and ./cachekey.ts
 * for what a cache key covers.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { BlobRecovery, ContentStore } from '../src/content/types.js';
import { StatCache } from '../src/context/statcache.js';
import type { ContextWitness } from '../src/context/witness.js';
import { createLayer } from '../src/diff/compare.js';
import { SmallVariants } from '../src/diff/small-variants.js';
import type { Executor } from '../src/executor/types.js';
import type { Layer } from '../src/image/types.js';
import type { ImageStore } from '../src/imagestore/types.js';
import type { BuildResult } from '../src/llb/result.js';
import type { Definition } from '../src/llb/types.js';
import type { ProgressSink } from '../src/progress/types.js';
import type { Snapshotter } from '../src/snapshot/types.js';
import { CacheStore } from './cachestore.js';
import { buildGraph } from './graph.js';
import { DefaultOpResolver } from './resolver.js';
import { fileStepLocks } from './step-lock.js';
import { solveGraph, type ImportedCacheLookup } from './scheduler.js';
import type { ExecSandboxOptions } from './ops/exec/mounts.js';
import { restoreSnapshot, snapshotUsable } from './restore.js';
import type { OpResolver } from './types.js';
import type { OpModules } from './ops/op.js';

export type { OpResolver } from './types.js';
export type { ImportedCacheLookup } from './scheduler.js';
export type { OpModule, OpModules } from './ops/op.js';
export { OP_MODULES } from './ops/registry.js';
export type { ExecSandboxOptions } from './ops/exec/mounts.js';
export { unpackWhilePulling } from './ops/image/unpack.js';

export interface SolveOptions {
  content: ContentStore;
  snapshotter: Snapshotter;
  executor: Executor;
  images: ImageStore;
  /** `<store>/cache`: cache records and the stat cache. */
  cacheDir: string;
  /** Scratch dir for temporary mount points. */
  stateDir: string;
  /** Local source name → absolute dir, e.g. { context: '/abs/ctx' }. */
  locals: Record<string, string>;
  progress: ProgressSink;
  signal?: AbortSignal;
  /** Ignore cache records (still write them). */
  noCache?: boolean;
  /** --no-cache-filter: stages (OpMetadata.stage: name or index) whose steps, and their dependents, ignore the cache. */
  noCacheStages?: string[];
  /** RUN sandbox settings (limits, --secret, --ssh, cache-mount dir); see solver/ops/exec/mounts.ts. */
  sandbox?: ExecSandboxOptions;
  /** Injected for tests; default: the real ops. */
  ops?: OpResolver;
  /** The op modules (cache maps, explanations, runs); default: the registered ones (solver/ops/registry.ts). */
  opModules?: OpModules;
  /**
   * gzip level of new layers. Undefined (the CLI's choice): new layers are kept uncompressed, as dockerd's
   * BuildKit keeps its snapshots; an output compresses them when they leave the store (src/diff/variants.ts).
   */
  compressionLevel?: number;
  /** Ops run at the same time; default max(2, CPUs). */
  concurrency?: number;
  /** Told every context path a cache key depended on (see src/context/witness.ts). */
  witness?: ContextWitness;
  /** Fetches a missing or corrupt base layer blob again (src/content/fetch.ts). */
  blobs?: BlobRecovery;
  /** `<store>/state/locks`: a missed step is built by one build of the store at a time (./step-lock.ts). */
  locksDir?: string;
  /** --cache-from sources (src/cache/remote/imported.ts): consulted when the local cache misses. */
  imported?: ImportedCacheLookup | Promise<ImportedCacheLookup | undefined>;
}

export async function solve(def: Definition, opts: SolveOptions): Promise<BuildResult> {
  return (await solveAll([def], opts))[0]!;
}

/**
 * Solve several definitions in one run (a multi-platform build: one per platform): vertices with the same
 * digest (the context, a `FROM --platform=$BUILDPLATFORM` stage, …) are keyed, run and shown once. One
 * BuildResult per definition, in order; each carries every vertex's summary.
 */
export async function solveAll(defs: Definition[], opts: SolveOptions): Promise<BuildResult[]> {
  if (defs.length === 0) throw new TypeError('solveAll needs a definition');
  const graph = buildGraph(defs[0]!, defs.slice(1));
  const { snapshotter, content } = opts;
  const statCache = await StatCache.open(join(opts.cacheDir, 'statcache'));
  const ops =
    opts.ops ??
    new DefaultOpResolver({
      content,
      snapshotter,
      executor: opts.executor,
      images: opts.images,
      locals: opts.locals,
      stateDir: opts.stateDir,
      statCache,
      ...(opts.sandbox ? { sandbox: opts.sandbox } : {}),
      ...(opts.witness ? { witness: opts.witness } : {}),
      ...(opts.opModules ? { modules: opts.opModules } : {}),
      ...(opts.blobs ? { blobs: opts.blobs } : {}),
    });
  const cache = new CacheStore({
    dir: opts.cacheDir,
    snapshotExists: async (name) => (await snapshotter.stat(name))?.kind === 'committed',
    layerExists: (layer) => content.has(layer.descriptor.digest),
  });
  let emptyLayer: Promise<Layer> | undefined;
  const smallVariants = new SmallVariants(content, opts.signal);
  try {
    const solved = await solveGraph(graph, {
      resolver: ops,
      cache,
      createLayer: async (snapshot, signal) => {
        const layerDir = await snapshotter.layerDir(snapshot);
        // kept uncompressed; a small one gets its gzip variant in the background (ARCHITECTURE.md "Where layers are compressed")
        const keep = { compression: 'none' as const, onSmallTar: (layer: Layer, tar: Buffer) => smallVariants.add(layer, tar) };
        const make = () => createLayer({ layerDir, content, signal, ...(opts.compressionLevel !== undefined ? { level: opts.compressionLevel } : keep) });
        // Every empty layer dir (a step that changed nothing) gives the same blob: made once per build.
        if ((await readdir(layerDir)).length > 0) return make();
        emptyLayer ??= make();
        return emptyLayer;
      },
      layerExists: (layer) => content.has(layer.descriptor.digest),
      progress: opts.progress,
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.noCache ? { noCache: true } : {}),
      ...(opts.noCacheStages?.length ? { noCacheStages: opts.noCacheStages } : {}),
      identitySalt: JSON.stringify(Object.entries(opts.locals).sort()),
      ...(opts.concurrency !== undefined ? { concurrency: opts.concurrency } : {}),
      ...(opts.locksDir !== undefined ? { locks: fileStepLocks(opts.locksDir) } : {}),
      ...(opts.imported ? { imported: opts.imported } : {}),
      ...(opts.opModules ? { modules: opts.opModules } : {}),
      heal: {
        usable: (snapshot) => snapshotUsable(snapshotter, snapshot),
        restore: (name, parent, layer, signal) => restoreSnapshot({ snapshotter, content }, name, parent, layer, signal),
      },
    });
    return [solved, ...solved.others].map((out, i) => {
      const image = structuredClone(defs[i]!.image);
      image.rootfs = { type: 'layers', diff_ids: out.layers.map((l) => l.diffID) };
      return { layers: out.layers, image, snapshot: out.snapshot, vertices: solved.vertices, ...(out.created ? { created: out.created } : {}), cacheSteps: out.steps };
    });
  } finally {
    await Promise.all([statCache.flush().catch(() => {}), smallVariants.finish()]);
  }
}

