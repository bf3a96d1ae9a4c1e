import { TsbuildError, type ErrorOptions } from '../errors.js';

/**
 * Errors of the distribution client. Messages name the registry (host[:port]) and, for auth failures, the
 * scope that was asked for; they never contain credentials, tokens or Authorization headers.
 */
export class RegistryError extends TsbuildError {
  /** HTTP status that caused this error, when there was a response. */
  readonly status?: number;
  constructor(code: string, message: string, opts: ErrorOptions & { status?: number } = {}) {
    super(code, message, opts);
    if (opts.status !== undefined) this.status = opts.status;
  }
}

/** The registry (or its token server) refused our credentials, or we have none and it wants some. */
export class RegistryAuthError extends RegistryError {}

/** The registry could not be reached at all (refused, reset, DNS, TLS) after every retry. */
export class RegistryUnreachableError extends RegistryError {}
