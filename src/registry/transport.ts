/**
 * HTTP to one registry: picks the scheme (pinging /v2/), adds authorization for the scopes a request
 * needs (answering a 401 challenge once), and retries with exponential backoff on dropped connections,
 * 5xx and 429 (honouring Retry-After). Request bodies must be replayable (a Buffer or a factory).
 */
import type { SchemeMemory } from './schemes.js';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { request } from './http.js';
import { Authorizer } from './auth.js';
import { parseChallenges } from './challenge.js';
import { lookupCredentials, type Credentials } from './credentials.js';
import { makeEndpoint, isTlsMismatch, type Endpoint, type EndpointOptions } from './endpoint.js';
import { RegistryAuthError, RegistryError, RegistryUnreachableError } from './errors.js';

export interface TransportOptions extends EndpointOptions {
  /** Credentials for a registry domain; default: the Docker config (config.json, helpers). */
  credentials?: (domain: string) => Promise<Credentials | undefined>;
  /** Attempts after the first on transient failures; default 4 (env TSBUILD_REGISTRY_RETRIES). */
  retries?: number;
  /** First backoff delay; doubles each attempt; default 200 ms. */
  backoffMs?: number;
  /** The scheme each registry answered on last time (./schemes.ts): tried first when it may be plain HTTP. */
  schemes?: SchemeMemory;
}

export interface RegistryRequest {
  method: string;
  /** `/v2/...` path (with query) or an absolute URL (upload locations). */
  path: string;
  headers?: Record<string, string>;
  body?: Buffer | (() => Readable);
  scopes: string[];
  signal?: AbortSignal;
  /** Statuses returned to the caller rather than thrown; default every 2xx. */
  accept?: (status: number) => boolean;
  /** Do not retry (the caller resumes itself). */
  noRetry?: boolean;
  /** What is asked for, for errors ("the manifest of host/repo:tag"); default the method and path. */
  what?: string;
}

export type RegistryResponse = Dispatcher.ResponseData;

/** Codes of a connection that was open and then closed or reset by the other side (or a proxy). */
const DROPPED_CODES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);

const TRANSIENT_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CLOSED']);

export function isTransientError(err: unknown): boolean {
  let cur: unknown = err;
  for (let i = 0; i < 4 && cur; i++) {
    const code = (cur as { code?: string }).code;
    if (code && TRANSIENT_CODES.has(code)) return true;
    if (cur instanceof RegistryUnreachableError) return true;
    cur = (cur as { cause?: unknown }).cause;
  }
  return false;
}

/** Whether `err` is a connection that dropped (reset, or closed before the response was complete). */
export function isDroppedConnection(err: unknown): boolean {
  let cur: unknown = err;
  for (let i = 0; i < 4 && cur; i++) {
    const code = (cur as { code?: string }).code;
    if (code && DROPPED_CODES.has(code)) return true;
    cur = (cur as { cause?: unknown }).cause;
  }
  return false;
}

/** The error once every attempt of a request ended with the connection dropping: it says so (never "not found"). */
export function connectionDropped(domain: string, what: string, attempts: number, err: unknown): RegistryUnreachableError {
  const e = err as { code?: string; message?: string } | undefined;
  const why = e?.message ?? String(err);
  return new RegistryUnreachableError('REGISTRY_CONNECTION_DROPPED', `the connection to registry ${domain} dropped while reading ${what} (${attempts} attempt${attempts === 1 ? '' : 's'}): ${why}${e?.code && !why.includes(e.code) ? ` (${e.code})` : ''}`, {
    cause: err,
    hint: 'the registry, or a proxy between, closed the connection before the response was complete; try again (TSBUILD_REGISTRY_RETRIES sets the number of retries)',
  });
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export class RegistryTransport {
  readonly domain: string;
  private endpoint: Promise<Endpoint> | undefined;
  private base: Promise<string> | undefined;
  private auth: Authorizer | undefined;
  readonly retries: number;
  private readonly backoffMs: number;

  constructor(domain: string, private readonly opts: TransportOptions = {}) {
    this.domain = domain;
    const envRetries = Number(process.env.TSBUILD_REGISTRY_RETRIES);
    this.retries = opts.retries ?? (Number.isFinite(envRetries) && process.env.TSBUILD_REGISTRY_RETRIES ? envRetries : 4);
    this.backoffMs = opts.backoffMs ?? 200;
  }

  /** Back off before attempt `n` (1-based), or by Retry-After. */
  backoff(n: number, signal?: AbortSignal, retryAfter?: string): Promise<void> {
    let ms = this.backoffMs * 2 ** (n - 1) * (0.75 + Math.random() * 0.5);
    const ra = retryAfter !== undefined ? Number(retryAfter) : NaN;
    if (Number.isFinite(ra)) ms = Math.min(30_000, ra * 1000);
    return sleep(Math.min(ms, 10_000), signal);
  }

  private async ep(): Promise<Endpoint> {
    this.endpoint ??= makeEndpoint(this.domain, this.opts);
    return this.endpoint;
  }

  /** `https://host` or `http://host`, learned by pinging /v2/ (which also gives the auth challenge). */
  async baseUrl(signal?: AbortSignal): Promise<string> {
    this.base ??= this.ping(signal);
    this.base.catch(() => (this.base = undefined));
    return this.base;
  }

  private async ping(signal?: AbortSignal): Promise<string> {
    const ep = await this.ep();
    this.auth ??= new Authorizer(this.domain, ep.dispatcher, () => (this.opts.credentials ?? lookupCredentials)(this.domain));
    // A registry that answered on plain HTTP last time (and may still use it) is asked on HTTP first. That
    // first try counts only on the registry's own answer (200, or 401 with its challenge): anything else, or
    // no answer, goes on to the usual order (a TLS registry answers plain HTTP with a 400).
    const hinted = ep.schemes.includes('http') && this.opts.schemes?.get(this.domain) === 'http';
    let lastErr: unknown;
    for (let attempt = 0; attempt <= this.retries; attempt++) {
      if (attempt > 0) await this.backoff(attempt, signal);
      const order: ('https' | 'http')[] = hinted && attempt === 0 ? ['http', ...ep.schemes] : ep.schemes;
      for (const [i, scheme] of order.entries()) {
        const trial = hinted && attempt === 0 && i === 0;
        const base = `${scheme}://${ep.host}`;
        try {
          const res = await request(`${base}/v2/`, { method: 'GET', dispatcher: ep.dispatcher, ...(signal ? { signal } : {}) });
          await res.body.dump();
          if (trial && res.statusCode !== 200 && res.statusCode !== 401) continue;
          if (res.statusCode === 401) this.auth.setChallenge(parseChallenges(res.headers['www-authenticate']));
          else if (res.statusCode >= 500) {
            lastErr = new RegistryError('REGISTRY_ERROR', `${this.domain}: HTTP ${res.statusCode} from /v2/`, { status: res.statusCode });
            break;
          }
          if (!trial && ep.schemes.includes('http')) await this.opts.schemes?.set(this.domain, scheme); // a trial's answer is what the memory says
          return base;
        } catch (err) {
          if (signal?.aborted) throw signal.reason;
          lastErr = err;
          if (trial || (scheme === 'https' && ep.schemes.includes('http') && (isTlsMismatch(err) || (err as { code?: string }).code === 'ECONNRESET'))) continue;
          break;
        }
      }
      if (lastErr instanceof RegistryError) continue;
      if (!isTransientError(lastErr)) break;
    }
    throw unreachable(this.domain, lastErr);
  }

  /** Send a request with auth and retries. Throws RegistryError for statuses `accept` refuses. */
  send(req: RegistryRequest): Promise<RegistryResponse> {
    return this.exchange(req, async (res) => res);
  }

  /**
   * Send an idempotent request and read its whole body (at most `maxBytes`, else `tooBig()` is thrown): a
   * connection that drops while the body is read is retried like one that drops before the response, with
   * the same backoff and the same bound. Statuses `accept` lets through but that are not 2xx come back with
   * an empty body.
   */
  sendForBytes(req: RegistryRequest, maxBytes: number, tooBig: () => Error): Promise<{ statusCode: number; headers: RegistryResponse['headers']; bytes: Buffer }> {
    return this.exchange(req, async (res) => {
      if (res.statusCode < 200 || res.statusCode >= 300) {
        await res.body.dump();
        return { statusCode: res.statusCode, headers: res.headers, bytes: Buffer.alloc(0) };
      }
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > maxBytes) {
        res.body.destroy();
        throw tooBig();
      }
      const chunks: Buffer[] = [];
      let got = 0;
      for await (const chunk of res.body) {
        got += (chunk as Buffer).length;
        if (got > maxBytes) {
          res.body.destroy();
          throw tooBig();
        }
        chunks.push(chunk as Buffer);
      }
      return { statusCode: res.statusCode, headers: res.headers, bytes: Buffer.concat(chunks) };
    });
  }

  /** One request, attempted up to `retries + 1` times; `consume` reads the accepted response (a drop there is retried too). */
  private async exchange<T>(req: RegistryRequest, consume: (res: RegistryResponse) => Promise<T>): Promise<T> {
    const base = await this.baseUrl(req.signal);
    const ep = await this.ep();
    const url = /^https?:\/\//.test(req.path) ? req.path : base + req.path;
    const accept = req.accept ?? ((s: number) => s >= 200 && s < 300);
    const what = req.what ?? `${req.method} ${req.path.replace(/^https?:\/\/[^/]+/, '').replace(/\?.*$/, '')}`;
    let authRetried = false;
    let lastErr: unknown;
    let attempts = 0;
    const retries = req.noRetry ? 0 : this.retries;
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) await this.backoff(attempt, req.signal);
      const headers: Record<string, string> = { 'user-agent': 'tsbuild/0.1', ...req.headers };
      const authz = await this.auth!.header(req.scopes, req.signal);
      if (authz) headers.authorization = authz;
      let res: RegistryResponse;
      attempts++;
      try {
        const body = typeof req.body === 'function' ? req.body() : req.body;
        res = await request(url, { method: req.method as Dispatcher.HttpMethod, headers, ...(body !== undefined ? { body } : {}), dispatcher: ep.dispatcher, highWaterMark: 1 << 20, ...(req.signal ? { signal: req.signal } : {}) });
      } catch (err) {
        if (req.signal?.aborted) throw req.signal.reason;
        lastErr = err;
        if (isTransientError(err)) continue;
        throw unreachable(this.domain, err);
      }
      if (res.statusCode === 401 && !authRetried) {
        authRetried = true;
        attempts--;
        await res.body.dump();
        const ch = parseChallenges(res.headers['www-authenticate']);
        if (this.auth!.setChallenge(ch)) {
          this.auth!.invalidate(req.scopes);
          attempt--; // an auth round trip is not a failed attempt
          continue;
        }
        throw await this.authError(req, 401);
      }
      if (accept(res.statusCode)) {
        try {
          return await consume(res);
        } catch (err) {
          if (req.signal?.aborted) throw req.signal.reason;
          if (!isTransientError(err)) throw err;
          res.body.destroy();
          lastErr = err;
          continue;
        }
      }
      if ((res.statusCode >= 500 || res.statusCode === 429) && attempt < retries) {
        const ra = res.headers['retry-after'];
        await res.body.dump();
        lastErr = new RegistryError('REGISTRY_ERROR', `${this.domain}: HTTP ${res.statusCode}`, { status: res.statusCode });
        if (typeof ra === 'string') {
          await this.backoff(1, req.signal, ra);
        }
        continue;
      }
      if (res.statusCode === 401 || res.statusCode === 403) {
        await res.body.dump();
        throw await this.authError(req, res.statusCode);
      }
      throw await errorFromResponse(this.domain, req, res);
    }
    if (lastErr instanceof RegistryError) throw lastErr;
    if (isDroppedConnection(lastErr)) throw connectionDropped(this.domain, what, attempts, lastErr);
    throw unreachable(this.domain, lastErr);
  }

  private async authError(req: RegistryRequest, status: number): Promise<RegistryAuthError> {
    const scope = req.scopes.join(' ');
    const hasCreds = await this.auth!.hasCredentials();
    const why = status === 403 ? 'access denied' : hasCreds ? 'the credentials were refused' : 'authentication required (no credentials for this registry)';
    return new RegistryAuthError('REGISTRY_UNAUTHORIZED', `${this.domain}: ${why} for scope "${scope}"`, {
      status,
      hint: hasCreds ? 'check the credentials with `tsbuild login ' + this.domain + '`' : 'log in first: `tsbuild login ' + this.domain + ' -u USER --password-stdin`',
    });
  }
}

function unreachable(domain: string, err: unknown): RegistryUnreachableError {
  if (err instanceof RegistryUnreachableError) return err;
  const e = err as { code?: string; message?: string } | undefined;
  const why = e?.code ? `${e.code}${e.message && !e.message.includes(e.code) ? ` (${e.message})` : ''}` : (e?.message ?? String(err));
  return new RegistryUnreachableError('REGISTRY_UNREACHABLE', `cannot reach registry ${domain}: ${why}`, {
    hint: isTlsMismatch(err) || /certificate|self.signed|CERT/i.test(String(e?.message)) ? `for a private CA put it in /etc/docker/certs.d/${domain}/ca.crt (or $TSBUILD_CERTS_DIR/${domain}/ca.crt) or set NODE_EXTRA_CA_CERTS; for plain HTTP use --insecure-registry ${domain}` : undefined,
  });
}

/** A RegistryError from an unexpected response, with the registry's own error code and message. */
export async function errorFromResponse(domain: string, req: { method: string; path: string }, res: RegistryResponse): Promise<RegistryError> {
  const text = await res.body.text().catch(() => '');
  let detail = '';
  try {
    const j = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
    detail = (j.errors ?? []).map((e) => `${e.code ?? ''}: ${e.message ?? ''}`).join('; ');
  } catch {
    detail = text.slice(0, 200).trim();
  }
  const path = req.path.replace(/^https?:\/\/[^/]+/, '').replace(/\?.*$/, '');
  const code = res.statusCode === 404 ? 'REGISTRY_NOT_FOUND' : 'REGISTRY_ERROR';
  return new RegistryError(code, `${domain}: ${req.method} ${path}: HTTP ${res.statusCode}${detail ? ` (${detail})` : ''}`, { status: res.statusCode });
}
