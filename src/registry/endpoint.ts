/**
 * Where a registry lives and how to talk to it.
 * - `docker.io` is served at `registry-1.docker.io`.
 * - TLS by default, verified against Node's CA store (extend it with NODE_EXTRA_CA_CERTS=/path/ca.pem) plus
 *   every `*.crt` in `<certs dir>/<host[:port]>/` (Docker's layout; the certs dir is $TSBUILD_CERTS_DIR,
 *   default /etc/docker/certs.d).
 * - Plain HTTP only for localhost / 127.0.0.1 / ::1 and registries named with `--insecure-registry`: those
 *   try HTTPS first and fall back to HTTP when the server does not speak TLS; an insecure registry's
 *   certificate is not verified.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Dispatcher } from 'undici';
import { Agent } from './http.js';
import { apiHost, isInsecure, isLocalHost } from './insecure.js';
import { trustDeferredCAs } from '../tls/deferred-ca.js';

export interface EndpointOptions {
  /** `host[:port]` names whose TLS is not verified and which may use plain HTTP. */
  insecure?: string[];
  /** Docker-style certs.d directory; default $TSBUILD_CERTS_DIR or /etc/docker/certs.d. */
  certsDir?: string;
}

export interface Endpoint {
  /** The registry as users name it: `docker.io`, `127.0.0.1:5000`. */
  domain: string;
  /** The API host: `registry-1.docker.io`, `127.0.0.1:5000`. */
  host: string;
  /** Schemes to try, in order. */
  schemes: ('https' | 'http')[];
  dispatcher: Dispatcher;
}

export async function makeEndpoint(domain: string, opts: EndpointOptions = {}): Promise<Endpoint> {
  const host = apiHost(domain);
  const insecure = isInsecure(domain, opts);
  const plainOk = insecure || isLocalHost(domain);
  await trustDeferredCAs(); // NODE_EXTRA_CA_CERTS when bin/tsbuild deferred it (src/tls/deferred-ca.ts)
  const extraCAs = await readCertsDir(join(opts.certsDir ?? process.env.TSBUILD_CERTS_DIR ?? '/etc/docker/certs.d', domain));
  const connect: Record<string, unknown> = { rejectUnauthorized: !insecure };
  // node:tls loads only here (a certs.d CA) or when undici connects over TLS: ~7 ms of a plain-HTTP registry's use.
  if (extraCAs.length) connect.ca = [...(await import('node:tls')).rootCertificates, ...(await extraCAsFromEnv()), ...extraCAs];
  const dispatcher = new Agent({ connect, connections: 16, keepAliveTimeout: 30_000, bodyTimeout: 120_000, headersTimeout: 60_000 });
  return { domain, host, schemes: plainOk ? ['https', 'http'] : ['https'], dispatcher };
}

async function readCertsDir(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const n of names.sort()) if (n.endsWith('.crt')) out.push(await readFile(join(dir, n), 'utf8'));
  return out;
}

/** Setting `ca` replaces Node's list, which already holds NODE_EXTRA_CA_CERTS: add it back. */
async function extraCAsFromEnv(): Promise<string[]> {
  const f = process.env.NODE_EXTRA_CA_CERTS;
  if (!f) return [];
  return [await readFile(f, 'utf8').catch(() => '')].filter(Boolean);
}

/** Errors that mean "this server does not speak TLS" (try plain HTTP next). */
export function isTlsMismatch(err: unknown): boolean {
  let cur: unknown = err;
  for (let i = 0; i < 4 && cur; i++) {
    const e = cur as NodeJS.ErrnoException & { code?: string };
    if (e.code === 'EPROTO' || e.code === 'ERR_SSL_WRONG_VERSION_NUMBER' || /wrong version number|packet length too long|EPROTO/i.test(e.message ?? '')) return true;
    cur = (cur as { cause?: unknown }).cause;
  }
  return false;
}
