/**
 * Solver-internal contracts.
 *
 * Words:
 * - vertex: one op of the Definition that is reachable from its output, with its inputs resolved to vertices.
 * - cache key: `sha256:<hex>` of the op's cache map (./cachekey.ts). Equal keys mean equal results.
 * - key facts: what an op must learn with I/O before its key can be computed (an image's manifest digest,
 *   the content checksum of the local files a COPY selects). Learning them never runs, mounts or copies anything.
 * - run: producing the op's output snapshot, a committed snapshot name (null for an empty rootfs).
 *
 * Lifecycle of a vertex in one solve: key facts → key → cache lookup → (only if the vertex or a dependent
 * that needs it misses) run → record written → (only for the output's layer chain) layer created and memoized.
 */
import type { SelectionFile } from '../src/context/checksum.js';
import type { SourceSelection } from '../src/context/select.js';
import type { Layer } from '../src/image/types.js';
import type { Digest, Op, OpMetadata } from '../src/llb/types.js';

export interface Vertex {
  digest: Digest;
  op: Op;
  metadata: OpMetadata;
  /** Same order as op.inputs. */
  inputs: Vertex[];
}

export interface KeyFacts {
  /** Image source: the manifest digest the reference resolves to. */
  imageDigest?: string;
  /** Image source: the image's layers (descriptor + diffID), the start of a layer chain. */
  imageLayers?: Layer[];
  /** File op: content checksum of exactly the files a copy action selects from a local source, by action index. */
  localChecksums?: Record<number, string>;
  /** Exec op: checksum of the context files a bind (or cache `from`) mount reads, by mount index. */
  mountChecksums?: Record<number, string>;
  /** git source: the commit its ref resolves to. */
  gitCommit?: string;
  /** http source: the --checksum, or the downloaded content's digest. */
  httpDigest?: string;
  /** File op: what each of those checksums covers, file by file (to explain a cache miss), by action index. */
  localFiles?: Record<number, SelectionFile[]>;
  /** File op: the selections those checksums were computed from, by action index (the copy reuses them; never stored). */
  localSelections?: Record<number, SourceSelection[]>;
}

/**
 * The same step's last earlier build (another key, same op apart from local copy checksums, same parent),
 * for an incremental COPY (solver/ops/file/copy-reuse.ts).
 */
export interface PreviousBuild {
  /** Its committed snapshot, present when looked up (it may still go: users must cope). */
  snapshot: string;
  /** The file rows behind its local copy checksums, by action index. */
  files: Record<number, SelectionFile[]>;
}

export interface KeyContext {
  vertex: Vertex;
  signal: AbortSignal;
}

export interface ResolvedInput {
  vertex: Vertex;
  key: string;
  /** Committed snapshot of the input's output; null for scratch and local sources. */
  snapshot: string | null;
}

export interface RunContext {
  vertex: Vertex;
  key: string;
  facts: KeyFacts;
  /** Same order as op.inputs; every input is materialized before run is called. */
  inputs: ResolvedInput[];
  signal: AbortSignal;
  /** --no-cache: the result must be produced afresh and not adopted from an existing snapshot of the same key. */
  noCache: boolean;
  /** The step's previous build, when its result may be reused (absent with --no-cache). */
  previous?: PreviousBuild;
  /** Step output, forwarded as vertex.log progress events. */
  log(stream: 'stdout' | 'stderr', data: Buffer | string): void;
}

export interface OpOutput {
  snapshot: string | null;
}

/** Runs ops. Injected so the scheduler can be tested with fake ops. */
export interface OpResolver {
  keyFacts(ctx: KeyContext): Promise<KeyFacts>;
  run(ctx: RunContext): Promise<OpOutput>;
}
