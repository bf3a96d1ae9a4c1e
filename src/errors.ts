/**
 * One error hierarchy for tsbuild. Every error a user can see is a TsbuildError with a stable `code`
 * and a user-facing `message`; `hint` says what to do about it. The one catch site is src/cli/main.ts.
 * Messages never contain credentials or secret values.
 */
export interface ErrorOptions {
  hint?: string;
  cause?: unknown;
  /** Where in a file the problem is (a Dockerfile, a .dockerignore); the CLI shows the line. */
  location?: SourceLocation;
}

export class TsbuildError extends Error {
  readonly code: string;
  readonly hint?: string;
  readonly location?: SourceLocation;
  /** Process exit code the CLI uses for this error. */
  exitCode = 1;
  constructor(code: string, message: string, opts: ErrorOptions = {}) {
    super(message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.name = new.target.name;
    this.code = code;
    if (opts.hint !== undefined) this.hint = opts.hint;
    if (opts.location !== undefined) this.location = opts.location;
  }
}

/** Bad command-line usage (unknown flag, missing value). Exit code 2. */
export class UsageError extends TsbuildError {
  constructor(message: string, opts: ErrorOptions = {}) {
    super('USAGE', message, opts);
    this.exitCode = 2;
  }
}

/** Where in a Dockerfile something is: 1-based line and column. */
export interface SourceLocation {
  file: string;
  line: number;
  column?: number;
  /** The text of the offending line, shown under the message. */
  lineText?: string;
}

/** A problem in the Dockerfile itself; always carries file:line and the line text. */
export class DockerfileError extends TsbuildError {
  declare readonly location: SourceLocation;
  constructor(code: string, message: string, location: SourceLocation, opts: ErrorOptions = {}) {
    super(code, message, { ...opts, location });
  }
}

/** A problem with the build context (missing, path outside it, excluded by .dockerignore). */
export class ContextError extends TsbuildError {}

/** A named thing (image, stage, tag, blob) that does not exist. */
export class NotFoundError extends TsbuildError {}

/** Content did not match the digest it was expected to have. Nothing was committed. */
export class DigestMismatchError extends TsbuildError {
  constructor(expected: string, actual: string, what = 'content') {
    super('DIGEST_MISMATCH', `${what}: expected digest ${expected}, got ${actual}`);
  }
}

/** A process run by the executor failed. */
export class ExecError extends TsbuildError {
  readonly exitCode_: number | null;
  readonly signal: string | null;
  /** The last lines of the process's combined output. */
  readonly outputTail: string;
  constructor(message: string, info: { exitCode: number | null; signal: string | null; outputTail: string }, opts: ErrorOptions = {}) {
    super('EXEC_FAILED', message, opts);
    this.exitCode_ = info.exitCode;
    this.signal = info.signal;
    this.outputTail = info.outputTail;
  }
}

/** A build step failed; wraps the cause with the step's name and Dockerfile location. */
export class VertexError extends TsbuildError {
  readonly vertex: string;
  constructor(vertex: string, cause: unknown, location?: SourceLocation) {
    const code = (cause as { code?: unknown } | undefined)?.code;
    // A full disk is the store's, not the step's: no internal file name (the CLI names the store).
    const inner =
      code === 'ENOSPC' || code === 'EDQUOT'
        ? code === 'ENOSPC' ? 'no space left on device (the store\'s disk is full)' : 'disk quota exceeded (the store\'s disk)'
        : cause instanceof Error ? cause.message : String(cause);
    super(cause instanceof TsbuildError ? cause.code : 'STEP_FAILED', `${vertex}: ${inner}`, {
      cause,
      ...(cause instanceof TsbuildError && cause.hint !== undefined ? { hint: cause.hint } : {}),
    });
    this.vertex = vertex;
    if (location) (this as { location?: SourceLocation }).location = location;
  }
}

/** The store (content, snapshots, cache, images) is unusable or inconsistent. */
export class StoreError extends TsbuildError {}

/** The sandbox could not be set up (runc missing, mount failed). */
export class SandboxError extends TsbuildError {}
