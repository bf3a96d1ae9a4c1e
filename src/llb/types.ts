/**
 * The build DAG ("Definition"): plain JSON, produced by frontend/, consumed by solver/.
 *
 * Words:
 * - op: one operation (a vertex). Its inputs are other ops, named by digest.
 * - digest: `sha256:<hex>` of the op's canonical JSON (see ./digest.ts), so the DAG is a Merkle DAG:
 *   two ops with the same content and the same inputs are the same vertex.
 * - output: every op has exactly one output, a filesystem (a snapshot). For `exec` and `file` ops the
 *   output is inputs[0] with the op's changes on top; that input is the op's "parent" in the layer chain.
 *
 * Nothing here is host-specific: the context directory, credentials and secret values never appear in
 * a Definition (the context is named `context` and bound to a directory by the solver's options).
 */
import type { ImageConfig, Platform } from '../image/types.js';

export type Digest = string; // "sha256:<64 hex>"

export type Op = SourceOp | ExecOp | FileOp;

/** A filesystem that comes from outside the DAG. Has no inputs. */
export interface SourceOp {
  type: 'source';
  inputs: [];
  source: ImageSource | LocalSource | ScratchSource;
}

/** An image from the local image store (later also a registry). `ref` is normalized (docker.io/library/x:tag). */
export interface ImageSource {
  kind: 'image';
  ref: string;
  /** Manifest digest, when the frontend resolved it; the solver pins to it. */
  digest?: Digest;
  platform?: Platform;
}

/**
 * Files from the client, e.g. the build context. `name` is bound to a directory by the solver's
 * `locals` option. Only paths matching `includePaths` (if given) and not excluded by `excludePatterns`
 * (Docker .dockerignore rules, in order, `!` re-includes) are visible.
 */
export interface LocalSource {
  kind: 'local';
  name: string;
  excludePatterns: string[];
  includePaths?: string[];
}

export interface ScratchSource {
  kind: 'scratch';
}

/** Run a process on top of inputs[0] (the rootfs). */
export interface ExecOp {
  type: 'exec';
  inputs: [Digest];
  /** argv: shell form is already wrapped, e.g. ["/bin/sh","-c","echo hi"]. */
  args: string[];
  /** KEY=VALUE, in order, after expansion. Includes build args visible to the step. */
  env: string[];
  /** Absolute working directory. */
  cwd: string;
  /** As written in USER after expansion ("" means root): "name", "uid", "name:group", "uid:gid". */
  user: string;
  network: 'default' | 'none' | 'host';
}

/** A sequence of filesystem actions applied on top of inputs[0] (the destination base). */
export interface FileOp {
  type: 'file';
  /** inputs[0]: destination base; further inputs: sources referenced by CopyAction.sourceInput. */
  inputs: Digest[];
  actions: FileAction[];
}

export type FileAction = CopyAction | MkdirAction;

export interface Chown {
  /** User name or numeric id, as written (after expansion). */
  user: string;
  /** Group name or numeric id; when absent the user's primary group (or the same id when numeric). */
  group?: string;
}

/**
 * COPY/ADD semantics of Docker:
 * - `src` paths are relative to the source's root (the context, or a stage's rootfs), may contain
 *   wildcards (Go filepath.Match syntax: * ? [...] and \ escapes; no braces) when allowWildcard;
 * - a directory source copies its contents, not the directory itself;
 * - `dest` is absolute (resolved against WORKDIR by the frontend); a trailing "/" means "a directory";
 *   with several sources (or a wildcard) the destination must be a directory;
 * - missing parent directories of dest are created (root-owned 0755 unless chown applies).
 */
export interface CopyAction {
  action: 'copy';
  /** Index into the op's inputs of the filesystem to read from (never 0 unless copying within one fs). */
  sourceInput: number;
  src: string[];
  dest: string;
  chown?: Chown;
  /** Octal string as written (e.g. "755"); applied to every copied file and directory. */
  chmod?: string;
  allowWildcard: boolean;
  followSymlinks: boolean;
}

export interface MkdirAction {
  action: 'mkdir';
  path: string;
  /** Octal mode, e.g. 0o755. */
  mode: number;
  makeParents: boolean;
  chown?: Chown;
}

/** Where an op came from; not part of any digest. */
export interface OpMetadata {
  /** Progress name, e.g. `[build 2/4] RUN make`. */
  description: string;
  /** Stage name or index. */
  stage?: string;
  /** 1-based location in the Dockerfile. */
  location?: { file: string; line: number; endLine?: number };
}

export interface Definition {
  version: 1;
  /** Every op reachable from `output`, by digest. */
  ops: Record<Digest, Op>;
  metadata: Record<Digest, OpMetadata>;
  /** The last op of the target stage. */
  output: Digest;
  /**
   * Config of the target image: base image config merged with the stage's instructions.
   * `rootfs.diff_ids` is left empty (the solver fills it); `history` has one entry per
   * base-image layer/entry plus one per instruction, `empty_layer: true` for those with no op output.
   */
  image: ImageConfig;
}
