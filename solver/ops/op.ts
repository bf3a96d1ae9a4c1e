/**
 * The one interface every op kind implements (BuildKit's solver/llbsolver/ops/*.go: CacheMap + Exec per op).
 *
 * Words:
 * - op kind: an exec or file op, or one kind of source (image, local, scratch, http). Derived from the
 *   Definition's types (src/llb/types.ts), so a new op or source kind there fails to compile until it has a
 *   module in ./registry.ts.
 * - cache map: what the op's result depends on, as typed JSON with a versioned tag (`tsbuild.exec.v1`). The
 *   cache key is sha256 of its canonical JSON (../cachekey.ts). Bump the tag's version on any change of
 *   meaning (what the op produces for the same map, or what a field means); never change a map's bytes
 *   without bumping it.
 * - stored map: a cache map read back from a step memo (an earlier build, maybe of an older tsbuild or
 *   another op kind): untrusted until the module's `readMap` has accepted it.
 *
 * A module lives in one folder (`./<kind>/index.ts`, with its helpers beside it) and owns: its cache map,
 * reading a stored one, explaining the difference between two of its own maps, the key facts it must learn
 * with I/O before its key is known, and running it.
 */
import type { Layer } from '../../src/image/types.js';
import type { Op, SourceOp } from '../../src/llb/types.js';
import type { SelectionFile } from '../../src/context/checksum.js';
import type { KeyContext, KeyFacts, OpOutput, RunContext } from '../types.js';
import type { DefaultOpResolverOptions } from '../resolver.js';

/** Every op kind: `exec`, `file`, and each source kind. */
export type OpKind = Exclude<Op['type'], 'source'> | SourceOp['source']['kind'];

/** The op of kind K (a source op narrowed to its source kind). */
export type OpOf<K extends OpKind> = K extends Op['type']
  ? Extract<Op, { type: K }>
  : SourceOp & { source: Extract<SourceOp['source'], { kind: K }> };

export function opKind(op: Op): OpKind {
  return op.type === 'source' ? op.source.kind : op.type;
}

/** Every cache map has a versioned tag, `tsbuild.<kind>.v<N>`. */
export interface VersionedMap {
  readonly tag: string;
}

/** A cache map as stored in a step memo: only its tag is known to be there. */
export type StoredMap = Record<string, unknown> & { tag: string };

/** An input of the op whose map is being made: its op and its cache key (same order as op.inputs). */
export interface KeyInput {
  op: Op;
  key: string;
}

export interface ExplainContext<K extends OpKind = OpKind> {
  /** Descriptions of the op's inputs (same order as op.inputs), e.g. `[build 2/3] RUN make`. */
  inputNames: string[];
  /** The current op, when known (names a copy's source input). */
  op?: OpOf<K>;
  /** File rows behind local copy checksums, by action index: of the earlier build and of this one. */
  prevFiles?: Record<number, SelectionFile[]>;
  curFiles?: Record<number, SelectionFile[]>;
}

/** What an op's execution may use: the real stores and settings, and a per-solve memo shared by keyFacts and run. */
export interface OpEnv {
  deps: DefaultOpResolverOptions;
  /** `make()` once per `id` in this solve (a failed promise is forgotten, so a retry makes it again). */
  once<T>(id: string, make: () => Promise<T>): Promise<T>;
}

/**
 * Where the op's output sits in an image: `layer` = inputs[0] plus one layer of the op's own changes (exec,
 * file); `base` = the start of a layer chain (sources), whose layers `baseLayers` gives.
 */
export type OpOutputShape<K extends OpKind> =
  | { readonly output: 'layer' }
  | {
      readonly output: 'base';
      /** The layers an image built on this op starts with; throws INVALID_DEFINITION when it cannot be a rootfs. */
      baseLayers(op: OpOf<K>, facts: KeyFacts): Layer[];
    };

export type OpModule<K extends OpKind, M extends VersionedMap = VersionedMap> = OpModuleCore<K, M> & OpOutputShape<K>;

export interface OpModuleCore<K extends OpKind, M extends VersionedMap = VersionedMap> {
  readonly kind: K;
  /** The current cache map tag. */
  readonly tag: string;
  /** True for ops whose output is never a snapshot (scratch, local): nothing to run, cache or report. */
  readonly trivial: boolean;
  /** The cache map of `op`, given its inputs and its key facts. Throws INTERNAL when a fact is missing. */
  cacheMap(op: OpOf<K>, inputs: KeyInput[], facts: KeyFacts): M;
  /** A stored map with this module's current tag, checked to have the shape `explain` reads; else undefined. */
  readMap(stored: StoredMap): M | undefined;
  /**
   * Why `cur` differs from `prev` (two maps of this kind and version): one sentence per difference for a
   * person (never a build arg's value), the parent last. [] when nothing it knows of differs.
   */
  explain(prev: M, cur: M, ctx: ExplainContext<K>): string[];
  /** What must be learned with I/O before the key can be computed (never runs, mounts or copies anything). */
  keyFacts(op: OpOf<K>, ctx: KeyContext, env: OpEnv): Promise<KeyFacts>;
  /** Produce the op's output snapshot (null for an empty filesystem). */
  run(op: OpOf<K>, ctx: RunContext, env: OpEnv): Promise<OpOutput>;
}

/** One module per op kind: a missing kind is a compile error. */
export type OpModules = { readonly [K in OpKind]: OpModule<K> };

/** The module of `op`'s kind, with `op` typed for it. */
export function moduleOf<R>(modules: OpModules, op: Op, use: <K extends OpKind>(m: OpModule<K>, op: OpOf<K>) => R): R {
  const kind = opKind(op);
  // The one place where an op meets its module: `kind` was read from `op` itself.
  return use(modules[kind] as OpModule<typeof kind>, op as OpOf<typeof kind>);
}
