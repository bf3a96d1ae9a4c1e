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
  source: ImageSource | LocalSource | ScratchSource | HttpSource | GitSource;
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

/**
 * One file downloaded over http(s) (ADD <url>): the output is a filesystem holding only `/<filename>`,
 * mode 0600, mtime from Last-Modified when the server sends it. The cache key is `checksum` when given
 * (the download must match it), else the downloaded content's digest; never the URL alone.
 */
/**
 * A git repository (ADD <git url>): the output holds the checkout of `ref` (default: the remote's HEAD) at
 * its root, or of `subdir` of it; `.git` only when `keepGitDir`. The cache key is the commit the ref
 * resolves to (`git ls-remote`), never the URL alone.
 */
export interface GitSource {
  kind: 'git';
  remote: string;
  ref?: string;
  subdir?: string;
  keepGitDir: boolean;
}

export interface HttpSource {
  kind: 'http';
  url: string;
  /** `sha256:<hex>` the content must have (ADD --checksum). */
  checksum?: Digest;
  /** Name of the file in the output (the URL path's last segment, or "__unnamed__"). */
  filename: string;
}

/** Run a process on top of inputs[0] (the rootfs). */
export interface ExecOp {
  type: 'exec';
  /** inputs[0] is the rootfs; further inputs are sources of bind/cache mounts. */
  inputs: [Digest, ...Digest[]];
  /** argv: shell form is already wrapped, e.g. ["/bin/sh","-c","echo hi"]. */
  args: string[];
  /** KEY=VALUE, in order, after expansion. Includes build args visible to the step. */
  env: string[];
  /** Absolute working directory. */
  cwd: string;
  /** As written in USER after expansion ("" means root): "name", "uid", "name:group", "uid:gid". */
  user: string;
  network: 'default' | 'none' | 'host';
  /**
   * RUN --security=insecure: the step runs with every capability, no seccomp filter, no masked /proc
   * paths and a writable /sys (BuildKit's insecure mode). Absent = the sandbox. Needs the build's
   * `security.insecure` entitlement, as `network: 'host'` needs `network.host` (./entitlements.ts).
   */
  security?: 'insecure';
  /** RUN --mount, in order. Inputs after inputs[0] are only referenced from here (bind/cache `input`). */
  mounts?: ExecMount[];
  /**
   * The platform of the step's rootfs when it is not the build host's (as BuildKit writes it: linux/arm64,
   * linux/arm/v7): the step runs under emulation (src/executor/emulation.ts) and its cache key names it.
   * Absent for a step of the host's platform, so a one-platform build's digests and keys are unchanged.
   */
  platform?: Platform;
}

/**
 * RUN --mount. `target` is absolute. Cache key (solver/cachekey.ts): a mount's declaration counts
 * (type, target, ids, options); for `bind` the content of its source counts too (the input's key, or
 * the context's checksum); the content of cache, tmpfs, secret and ssh mounts never does.
 */
export type ExecMount = BindMountSpec | CacheMountSpec | TmpfsMountSpec | SecretMountSpec | SshMountSpec;

/** A directory (or file) of another filesystem: read-only unless `readonly` is false; writes are discarded. */
export interface BindMountSpec {
  type: 'bind';
  target: string;
  /** Index into op.inputs (>= 1): a stage, an image, or the context (a local source). */
  input: number;
  /** Path inside that filesystem; "/" for all of it. */
  source: string;
  readonly: boolean;
}

/** A persistent directory in the store (`<store>/cachemounts`), shared across builds by `id`; never in the image. */
export interface CacheMountSpec {
  type: 'cache';
  target: string;
  /** Defaults to the target. */
  id: string;
  sharing: 'shared' | 'private' | 'locked';
  readonly: boolean;
  /** Seed for a new cache: index into op.inputs and a path in it. */
  input?: number;
  source?: string;
  /** Mode and owner of the cache's root directory when it is created. */
  mode: number;
  uid: number;
  gid: number;
}

export interface TmpfsMountSpec {
  type: 'tmpfs';
  target: string;
  /** Bytes; unset = the kernel's default (half the RAM). */
  size?: number;
}

/** A secret given to the build (`--secret id=...`): a file at `target` and/or env var `env`, never in a layer. */
export interface SecretMountSpec {
  type: 'secret';
  id: string;
  /** Default /run/secrets/<id> unless only `env` is given. */
  target?: string;
  env?: string;
  required: boolean;
  mode: number;
  uid: number;
  gid: number;
}

/** The SSH agent socket given with `--ssh id[=path]`, mounted at target with SSH_AUTH_SOCK set. */
export interface SshMountSpec {
  type: 'ssh';
  id: string;
  target: string;
  required: boolean;
  mode: number;
  uid: number;
  gid: number;
}

/** A sequence of filesystem actions applied on top of inputs[0] (the destination base). */
export interface FileOp {
  type: 'file';
  /** inputs[0]: destination base; further inputs: sources referenced by CopyAction.sourceInput. */
  inputs: Digest[];
  actions: FileAction[];
}

export type FileAction = CopyAction | MkdirAction | MkfileAction;

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
  /**
   * As written: octal ("755") or symbolic ("u+x,g-w", applied to each file's own mode; `X` only to
   * directories and executables); applied to every copied file and directory, never to symlinks.
   */
  chmod?: string;
  allowWildcard: boolean;
  followSymlinks: boolean;
  /** --exclude: .dockerignore-syntax patterns, matched against paths relative to each matched source. */
  exclude?: string[];
  /**
   * --parents: each match lands at dest/<its path> (parents kept) instead of dest/<basename>; a `/./`
   * in a source ends the part that is dropped (`a/./b/f` → dest/b/f).
   */
  parents?: boolean;
  /** ADD: a matched local file that is a tar archive (plain, gzip, bzip2, xz; by content) is extracted into dest. */
  unpack?: boolean;
}

/** Create (or replace) one regular file with `data` (COPY <<EOF heredocs). */
export interface MkfileAction {
  action: 'mkfile';
  path: string;
  /** Octal mode, e.g. 0o644. */
  mode: number;
  data: string;
  chown?: Chown;
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
