/**
 * Bare distribution API requests for the replay (src/cli/travel-replay.ts): node:http / node:https with one
 * keep-alive connection pool, no undici, no auth, no redirects, no retries. Anything but the answer the
 * caller expects is the caller's cue to leave the work to the full client (./client.ts) on the normal path.
 * `requestFor` and `connectOptions` are also the rebuild memo's bare tag check (src/cli/tag-check.ts).
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders, type RequestOptions } from 'node:http';
import { trustDeferredCAs } from '../tls/deferred-ca.js';
import { apiHost, isInsecure, isLocalHost } from './insecure.js';

export interface BareResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

const TIMEOUT_MS = 10_000;

/** node:http's or node:https's `request` for `url` (node:https, and TLS, load only for a registry that speaks it; the CAs bin/tsbuild deferred are trusted first). */
export async function requestFor(url: URL): Promise<typeof httpRequest> {
  if (url.protocol !== 'https:') return httpRequest;
  await trustDeferredCAs(); // NODE_EXTRA_CA_CERTS, deferred by bin/tsbuild (src/tls/deferred-ca.ts)
  return (await import('node:https')).request as typeof httpRequest;
}

/**
 * Where and how to connect to `url` without a resolver round trip: `localhost` at 127.0.0.1 (a registry only
 * on ::1 refuses it, and the caller falls back), the port, and for TLS an explicit servername (else http's
 * agent derives one from the Host header with net.isIP(), whose first non-IPv4 call compiles the IPv6 pattern,
 * 13-60 ms measured on a loaded machine, for a name it then ignores) and verification unless `insecure`.
 */
export function connectOptions(url: URL, insecure: boolean): RequestOptions & { servername?: string; rejectUnauthorized?: boolean } {
  const https = url.protocol === 'https:';
  return {
    host: url.hostname === 'localhost' ? '127.0.0.1' : url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port || (https ? 443 : 80),
    ...(https ? { servername: /^[\d.]+$|^\[/.test(url.hostname) ? '' : url.hostname, rejectUnauthorized: !insecure } : {}),
  };
}

export class BareRegistry {
  private readonly url: URL;

  private constructor(
    /** `http://host[:port]` or `https://host[:port]`. */
    readonly base: string,
    private readonly send: typeof httpRequest,
    private readonly agent: HttpAgent,
    private readonly insecure: boolean,
  ) {
    this.url = new URL(base);
  }

  /**
   * A client for `domain` that answered `probe` (a GET path) with 2xx on its first scheme: plain HTTP first
   * for localhost and --insecure-registry names (a TLS registry answers it with a 400 and HTTPS follows), else
   * HTTPS only. Returns the client and the probe's answer, or undefined when no scheme answered 2xx.
   */
  static async open(domain: string, insecure: string[], probe: { path: string; headers: Record<string, string>; maxBytes: number }): Promise<{ client: BareRegistry; first: BareResponse } | undefined> {
    const unverified = isInsecure(domain, { insecure });
    for (const scheme of unverified || isLocalHost(domain) ? (['http', 'https'] as const) : (['https'] as const)) {
      const base = `${scheme}://${apiHost(domain)}`;
      const send = await requestFor(new URL(base));
      const agent = scheme === 'https' ? new (await import('node:https')).Agent({ keepAlive: true, maxSockets: 8 }) : new HttpAgent({ keepAlive: true, maxSockets: 8 });
      const client = new BareRegistry(base, send, agent, unverified);
      const first = await client.request('GET', probe.path, probe).catch(() => undefined);
      if (first && first.status >= 200 && first.status < 300) return { client, first };
      client.close();
      if (first && (first.status !== 400 || scheme === 'https')) return undefined; // the registry answered: not the scheme's fault
    }
    return undefined;
  }

  /** One request; the body is read up to `maxBytes` (more is an error). */
  request(method: string, path: string, opts: { headers?: Record<string, string>; body?: Buffer; maxBytes?: number } = {}): Promise<BareResponse> {
    const max = opts.maxBytes ?? 1024 * 1024;
    const req: RequestOptions = {
      method,
      ...connectOptions(this.url, this.insecure),
      path,
      headers: { host: this.url.host, 'user-agent': 'tsbuild/0.1', ...opts.headers, ...(opts.body ? { 'content-length': String(opts.body.length) } : {}) },
      timeout: TIMEOUT_MS,
      agent: this.agent,
    };
    return new Promise((resolve, reject) => {
      const r = this.send(req);
      r.on('response', (res) => {
        const chunks: Buffer[] = [];
        let got = 0;
        res.on('data', (c: Buffer) => {
          got += c.length;
          if (got > max) r.destroy(new Error(`answer over ${max} bytes`));
          else chunks.push(c);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      r.on('timeout', () => r.destroy(new Error(`no answer in ${TIMEOUT_MS / 1000}s`)));
      r.on('error', reject);
      r.end(opts.body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
