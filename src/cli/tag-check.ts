/**
 * The rebuild memo's freshness check of a base image pulled by tag (./rebuild-memo.ts, ./replay.ts): the
 * normal path HEADs such a tag every build (./resolve-image.ts) to see whether it moved; the memo asks the
 * same question with one request: a HEAD of the manifest by tag, its Docker-Content-Digest compared with
 * the digest the last build used.
 *
 * The request is a bare node:http/node:https HEAD to the scheme the registry client found last time, with
 * no DNS lookup for localhost names: the replay must not load undici, the auth code or the resolver. It
 * sends no credentials. Anything but a 2xx with a digest (a 401 from a registry that wants a token or a
 * password, a TLS error, a redirect, a timeout, a refused connection) is `unknown`, and the caller falls
 * back to the full registry client (./tag-check-full.ts), which does what the normal path does.
 */
import type { IncomingMessage, RequestOptions } from 'node:http';
import { connectOptions, requestFor } from '../registry/bare.js';
import { MediaType } from '../image/types.js';

/** A base image the normal path checks with its registry each build: what the memo checks instead. */
export interface TagCheck {
  /** The normalized name in the image store (`127.0.0.1:5000/base:v1`). */
  name: string;
  /** Registry as named (`127.0.0.1:5000`, `docker.io`), repository path, tag. */
  domain: string;
  path: string;
  tag: string;
  /** The manifest digest the build used (what the tag must still point to). */
  digest: string;
  /** `https://host[:port]` or `http://host[:port]`: what the registry client settled on. */
  base: string;
  /** An --insecure-registry: TLS is not verified. */
  insecure: boolean;
  /** A bare HEAD cannot tell at this registry (a 401/403, a private CA: `registry/pulled`): the full client asks. */
  bare?: false;
}

/**
 * `unknown` with `client`: the full registry client may know; without: the registry is not there (the build
 * says so). `always`: a bare HEAD will never tell at this registry (it wants credentials, or its certificate
 * needs a CA only the full client loads), so a caller that remembers may skip it next time.
 */
export type TagState = { state: 'fresh' } | { state: 'moved'; digest: string } | { state: 'unknown'; why: string; client?: true; always?: true };

/** TLS verification failures: the full client may have the CA (certs.d, NODE_EXTRA_CA_CERTS). */
const UNVERIFIED = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/;

/** Errors that mean nobody answered: the full client would retry the same, and so will the build. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'TIMEOUT']);

const ACCEPT = [MediaType.OciIndex, MediaType.DockerManifestList, MediaType.OciManifest, MediaType.DockerManifest].join(', ');
const TIMEOUT_MS = 10_000;

/** One HEAD of `check`'s manifest by tag, without credentials. `signal` (the build's Ctrl-C) ends it as `unknown`. */
export async function headTag(check: TagCheck, signal?: AbortSignal): Promise<TagState> {
  if (check.bare === false) return { state: 'unknown', why: 'the registry wants the full client', client: true, always: true };
  let url: URL;
  try {
    url = new URL(`${check.base}/v2/${check.path}/manifests/${encodeURIComponent(check.tag)}`);
  } catch {
    return { state: 'unknown', why: 'no registry address recorded' };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return { state: 'unknown', why: 'no registry address recorded' };
  // The same connection as the replay's other bare requests (src/registry/bare.ts): no resolver, no undici.
  const request = await requestFor(url);
  const opts: RequestOptions = {
    method: 'HEAD',
    ...connectOptions(url, check.insecure),
    path: url.pathname,
    headers: { host: url.host, accept: ACCEPT, 'user-agent': 'tsbuild/0.1' },
    timeout: TIMEOUT_MS,
    agent: false,
  };
  return new Promise((resolve) => {
    const done = (s: TagState) => resolve(s);
    const req = request(opts, (res: IncomingMessage) => {
      res.resume();
      const status = res.statusCode ?? 0;
      const got = res.headers['docker-content-digest'];
      const digest = Array.isArray(got) ? got[0] : got;
      if (status === 401 || status === 403) return done({ state: 'unknown', why: `HTTP ${status}`, client: true, always: true });
      if (status < 200 || status >= 300) return done({ state: 'unknown', why: `HTTP ${status}`, client: true });
      if (!digest) return done({ state: 'unknown', why: 'no Docker-Content-Digest in the answer', client: true });
      done(digest === check.digest ? { state: 'fresh' } : { state: 'moved', digest });
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer in ${TIMEOUT_MS / 1000}s`), { code: 'TIMEOUT' })));
    req.on('error', (err: NodeJS.ErrnoException) => {
      const why = err.code ?? err.message;
      if (UNREACHABLE.has(err.code ?? '')) done({ state: 'unknown', why });
      else done(UNVERIFIED.test(err.code ?? '') ? { state: 'unknown', why, client: true, always: true } : { state: 'unknown', why, client: true });
    });
    if (signal) {
      if (signal.aborted) req.destroy(new Error('aborted'));
      else signal.addEventListener('abort', () => req.destroy(new Error('aborted')), { once: true });
    }
    req.end();
  });
}
