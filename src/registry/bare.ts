/**
 * Bare distribution API requests for the replay (src/cli/travel-replay.ts): node:http / node:https with one
 * keep-alive connection pool, no undici, no auth, no redirects, no retries. Anything but the answer the
 * caller expects is the caller's cue to leave the work to the full client (./client.ts) on the normal path.
 * `localhost` is connected to at 127.0.0.1 without a resolver round trip, as the replay's tag check does.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders, type RequestOptions } from 'node:http';
import { trustDeferredCAs } from '../tls/deferred-ca.js';
import { isInsecure, isLocalHost } from './insecure.js';

export interface BareResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

const TIMEOUT_MS = 10_000;

export class BareRegistry {
  private constructor(
    /** `http://host[:port]` or `https://host[:port]`. */
    readonly base: string,
    private readonly send: (opts: RequestOptions) => ReturnType<typeof httpRequest>,
    private readonly agent: HttpAgent,
    private readonly tls: { servername: string; rejectUnauthorized: boolean } | undefined,
  ) {}

  /**
   * A client for `domain` that answered `probe` (a GET path) with 2xx on its first scheme: plain HTTP first
   * for localhost and --insecure-registry names (a TLS registry answers it with a 400 and HTTPS follows), else
   * HTTPS only. Returns the client and the probe's answer, or undefined when no scheme answered 2xx.
   */
  static async open(domain: string, insecure: string[], probe: { path: string; headers: Record<string, string>; maxBytes: number }): Promise<{ client: BareRegistry; first: BareResponse } | undefined> {
    const plainOk = isLocalHost(domain) || isInsecure(domain, { insecure });
    const host = domain === 'docker.io' ? 'registry-1.docker.io' : domain;
    for (const scheme of plainOk ? (['http', 'https'] as const) : (['https'] as const)) {
      const client = await BareRegistry.make(`${scheme}://${host}`, isInsecure(domain, { insecure }));
      const first = await client.request('GET', probe.path, probe).catch(() => undefined);
      if (first && first.status >= 200 && first.status < 300) return { client, first };
      client.close();
      if (first && (first.status !== 400 || scheme === 'https')) return undefined; // the registry answered: not the scheme's fault
    }
    return undefined;
  }

  private static async make(base: string, insecure: boolean): Promise<BareRegistry> {
    const url = new URL(base);
    if (url.protocol === 'https:') {
      await trustDeferredCAs(); // NODE_EXTRA_CA_CERTS, deferred by bin/tsbuild (src/tls/deferred-ca.ts)
      const https = await import('node:https');
      // An explicit servername (no net.isIP() on the Host header: see src/cli/tag-check.ts).
      const tls = { servername: /^[\d.]+$|^\[/.test(url.hostname) ? '' : url.hostname, rejectUnauthorized: !insecure };
      return new BareRegistry(base, https.request as typeof httpRequest, new https.Agent({ keepAlive: true, maxSockets: 8, ...tls }), tls);
    }
    return new BareRegistry(base, httpRequest, new HttpAgent({ keepAlive: true, maxSockets: 8 }), undefined);
  }

  /** One request; the body is read up to `maxBytes` (more is an error). */
  request(method: string, path: string, opts: { headers?: Record<string, string>; body?: Buffer; maxBytes?: number } = {}): Promise<BareResponse> {
    const url = new URL(this.base);
    const max = opts.maxBytes ?? 1024 * 1024;
    const req: RequestOptions = {
      method,
      host: url.hostname === 'localhost' ? '127.0.0.1' : url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: url.port || (url.protocol === 'https:' ? 443 : 80),
      path,
      headers: { host: url.host, 'user-agent': 'tsbuild/0.1', ...opts.headers, ...(opts.body ? { 'content-length': String(opts.body.length) } : {}) },
      timeout: TIMEOUT_MS,
      agent: this.agent,
      ...this.tls,
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
