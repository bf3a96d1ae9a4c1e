import { TsbuildError } from '../errors.js';
import { digestProblem } from '../content/digest.js';

/**
 * Image references, with Docker's normalization rules:
 * - the first path component is a registry domain only if it contains `.` or `:`, is `localhost`,
 *   or has upper-case letters; otherwise the domain is docker.io (`index.docker.io` is docker.io too);
 * - a docker.io name with one component gets `library/` in front;
 * - with neither tag nor digest, the tag is `latest`; a digest is kept, and so is a tag next to it.
 * Repository paths must be lower case; a whole name at most 255 characters.
 */
export interface ParsedReference {
  /** Registry host, with port if any: `docker.io`, `localhost:5000`. */
  domain: string;
  /** Repository path inside the registry: `library/busybox`. */
  path: string;
  tag?: string;
  digest?: string;
}

const DEFAULT_DOMAIN = 'docker.io';
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN = /^(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;

function bad(ref: string, why: string): TsbuildError {
  const err = new TsbuildError('BAD_REFERENCE', `invalid image reference "${ref}": ${why}`, {
    hint: 'use NAME[:TAG][@DIGEST], e.g. alpine:3.19, registry.example.com:5000/team/app:v1',
  });
  err.exitCode = 2;
  return err;
}

/** Parse and normalize `ref`. Throws TsbuildError code BAD_REFERENCE. */
export function parseReference(ref: string): ParsedReference {
  if (ref === '') throw bad(ref, 'it is empty');
  if (/\s/.test(ref)) throw bad(ref, 'it contains whitespace');
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw bad(ref, `"${digest}" is not a valid digest`);
    // Only digests tsbuild can verify (sha256, sha512): refused here, before any network request.
    const problem = digestProblem(digest);
    if (problem !== undefined) throw bad(ref, problem);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(ref, `"${tag}" is not a valid tag (letters, digits, _ . -; at most 128; not starting with . or -)`);
  }
  if (rest === '') throw bad(ref, 'the repository name is missing');

  let domain = DEFAULT_DOMAIN;
  let path = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (/[.:]/.test(first) || first === 'localhost' || first !== first.toLowerCase()) {
      domain = first;
      path = rest.slice(slash + 1);
      if (!DOMAIN.test(domain)) throw bad(ref, `"${domain}" is not a valid registry host`);
      const port = /:(\d+)$/.exec(domain)?.[1];
      if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) throw bad(ref, `port ${port} of "${domain}" is out of range (1 to 65535)`);
    }
  }
  if (domain === 'index.docker.io') domain = DEFAULT_DOMAIN;
  if (path.toLowerCase() !== path) throw bad(ref, 'repository names must be lower case');
  for (const c of path.split('/')) {
    if (!PATH_COMPONENT.test(c)) throw bad(ref, `"${c}" is not a valid path component (lower-case letters, digits, and . _ __ - between them)`);
  }
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = `library/${path}`;
  if (domain.length + 1 + path.length > 255) throw bad(ref, 'the repository name is longer than 255 characters');
  const out: ParsedReference = { domain, path };
  if (tag !== undefined) out.tag = tag;
  if (digest !== undefined) out.digest = digest;
  return out;
}

/** `domain/path[:tag][@digest]`, with `:latest` when there is neither tag nor digest. */
export function formatReference(r: ParsedReference): string {
  let s = `${r.domain}/${r.path}`;
  if (r.tag !== undefined) s += `:${r.tag}`;
  else if (r.digest === undefined) s += ':latest';
  if (r.digest !== undefined) s += `@${r.digest}`;
  return s;
}

/** `busybox` → `docker.io/library/busybox:latest`; `localhost:5000/a/b` → `localhost:5000/a/b:latest`. */
export function normalizeReference(ref: string): string {
  return formatReference(parseReference(ref));
}

/** The short form Docker shows: `docker.io/library/app:v1` → `app:v1`, `docker.io/me/app:v1` → `me/app:v1`. */
export function familiarName(normalized: string): string {
  const prefix = `${DEFAULT_DOMAIN}/`;
  if (!normalized.startsWith(prefix)) return normalized;
  let rest = normalized.slice(prefix.length);
  if (rest.startsWith('library/')) {
    const name = rest.slice('library/'.length);
    const repo = name.split(/[:@]/, 1)[0]!;
    if (!repo.includes('/')) rest = name;
  }
  return rest;
}
