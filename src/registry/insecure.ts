/**
 * Which registries may be reached without verified TLS (--insecure-registry, matched with or without the
 * port) or over plain HTTP (those, and loopback addresses). Apart from ./endpoint.ts so that code which must
 * not load the HTTP client (the base image's bare tag check, src/cli/resolve-image.ts) asks the same question;
 * and where a registry's API is served (`apiHost`).
 */
export function isLocalHost(domain: string): boolean {
  const host = domain.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export function isInsecure(domain: string, opts: { insecure?: string[] }): boolean {
  return (opts.insecure ?? []).some((h) => h === domain || h === domain.replace(/:\d+$/, ''));
}

/** The host serving `domain`'s registry API: `docker.io` is served at `registry-1.docker.io`. */
export function apiHost(domain: string): string {
  return domain === 'docker.io' ? 'registry-1.docker.io' : domain;
}
