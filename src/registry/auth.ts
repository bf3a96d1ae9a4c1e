/**
 * Authorization for one registry: Basic, or Bearer tokens from the realm a challenge names.
 * Bearer with credentials first POSTs the OAuth2 form (grant_type=password, or refresh_token for an
 * identity token) and falls back to GET with Basic auth when the token server does not take POST (404/405),
 * as BuildKit does; without credentials it GETs an anonymous token. Tokens are cached per scope set and
 * reused until shortly before they expire. Tokens and secrets stay in memory only; errors name the
 * registry and the scope, never a secret.
 */
import type { Dispatcher } from 'undici';
import { request } from './http.js';
import type { Challenge } from './challenge.js';
import type { Credentials } from './credentials.js';
import { RegistryAuthError, RegistryError } from './errors.js';

interface CachedToken {
  token: string;
  expiresAt: number;
}

export class Authorizer {
  private challenge: Challenge | undefined;
  private readonly tokens = new Map<string, Promise<CachedToken>>();
  private creds: Promise<Credentials | undefined> | undefined;

  constructor(
    private readonly domain: string,
    private readonly dispatcher: Dispatcher,
    private readonly getCredentials: () => Promise<Credentials | undefined>,
  ) {}

  /** Remember the challenge from a 401; returns false if it is not one we can answer. */
  setChallenge(ch: Challenge[]): boolean {
    const pick = ch.find((c) => c.scheme === 'bearer') ?? ch.find((c) => c.scheme === 'basic');
    if (!pick) return false;
    this.challenge = pick;
    return true;
  }

  hasChallenge(): boolean {
    return this.challenge !== undefined;
  }

  /** Forget the token of this scope set (the registry refused it). */
  invalidate(scopes: string[]): void {
    this.tokens.delete(scopeKey(scopes));
  }

  /** The Authorization header value for a request needing `scopes`, or undefined (anonymous). */
  async header(scopes: string[], signal?: AbortSignal): Promise<string | undefined> {
    const ch = this.challenge;
    if (!ch) return undefined;
    if (ch.scheme === 'basic') {
      const c = await this.credentials();
      if (!c) return undefined;
      return 'Basic ' + Buffer.from(`${c.username}:${c.password}`).toString('base64');
    }
    const key = scopeKey(scopes);
    let p = this.tokens.get(key);
    if (p) {
      const t = await p.catch(() => undefined);
      if (t && t.expiresAt > Date.now()) return `Bearer ${t.token}`;
      if (this.tokens.get(key) === p) this.tokens.delete(key);
    }
    p = this.fetchToken(ch.params, scopes, signal);
    this.tokens.set(key, p);
    p.catch(() => this.tokens.get(key) === p && this.tokens.delete(key));
    return `Bearer ${(await p).token}`;
  }

  async hasCredentials(): Promise<boolean> {
    return (await this.credentials()) !== undefined;
  }

  private credentials(): Promise<Credentials | undefined> {
    this.creds ??= this.getCredentials();
    return this.creds;
  }

  private async fetchToken(params: Record<string, string>, scopes: string[], signal?: AbortSignal): Promise<CachedToken> {
    const realm = params.realm;
    if (!realm) throw new RegistryError('REGISTRY_BAD_CHALLENGE', `${this.domain}: the registry's Bearer challenge names no realm`);
    let realmUrl: URL;
    try {
      realmUrl = new URL(realm);
    } catch {
      throw new RegistryError('REGISTRY_BAD_CHALLENGE', `${this.domain}: the token realm "${realm}" is not a URL`);
    }
    const scopeText = scopes.join(' ');
    const c = await this.credentials();
    const what = `${this.domain} (token server ${realmUrl.host}) for scope "${scopeText || '(none)'}"`;
    const started = Date.now();
    if (c && (c.password || c.identityToken)) {
      const form = new URLSearchParams();
      if (c.identityToken) {
        form.set('grant_type', 'refresh_token');
        form.set('refresh_token', c.identityToken);
      } else {
        form.set('grant_type', 'password');
        form.set('username', c.username);
        form.set('password', c.password);
      }
      if (params.service) form.set('service', params.service);
      form.set('client_id', 'tsbuild');
      form.set('access_type', 'online');
      if (scopeText) form.set('scope', scopeText);
      const body = Buffer.from(form.toString());
      const res = await request(realmUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(body.length) },
        body,
        dispatcher: this.dispatcher,
        ...(signal ? { signal } : {}),
      }).catch((err) => {
        throw new RegistryError('REGISTRY_TOKEN_FAILED', `cannot reach the token server of ${what}: ${(err as Error).message}`);
      });
      const fallback = (res.statusCode === 404 || res.statusCode === 405) && !c.identityToken;
      if (!fallback) return this.readToken(res, what, started);
      await res.body.dump();
    }
    const url = new URL(realmUrl);
    if (params.service) url.searchParams.set('service', params.service);
    for (const s of scopes) url.searchParams.append('scope', s);
    const headers: Record<string, string> = {};
    if (c && c.password) headers.authorization = 'Basic ' + Buffer.from(`${c.username}:${c.password}`).toString('base64');
    const res = await request(url, { method: 'GET', headers, dispatcher: this.dispatcher, ...(signal ? { signal } : {}) }).catch((err) => {
      throw new RegistryError('REGISTRY_TOKEN_FAILED', `cannot reach the token server of ${what}: ${(err as Error).message}`);
    });
    return this.readToken(res, what, started);
  }

  private async readToken(res: Dispatcher.ResponseData, what: string, started: number): Promise<CachedToken> {
    const text = await res.body.text();
    if (res.statusCode === 401 || res.statusCode === 403) {
      throw new RegistryAuthError('REGISTRY_UNAUTHORIZED', `authentication to ${what} failed: ${res.statusCode === 401 ? 'wrong username or password' : 'access denied'}`, {
        status: res.statusCode,
        hint: 'check the credentials with `tsbuild login REGISTRY`',
      });
    }
    if (res.statusCode < 200 || res.statusCode >= 300) {
      throw new RegistryError('REGISTRY_TOKEN_FAILED', `getting a token for ${what} failed: HTTP ${res.statusCode}`, { status: res.statusCode });
    }
    let j: { token?: string; access_token?: string; expires_in?: number };
    try {
      j = JSON.parse(text) as typeof j;
    } catch {
      throw new RegistryError('REGISTRY_TOKEN_FAILED', `getting a token for ${what} failed: the answer is not JSON`);
    }
    const token = j.access_token || j.token;
    if (!token) throw new RegistryError('REGISTRY_TOKEN_FAILED', `getting a token for ${what} failed: the answer holds no token`);
    // Docker's rule: a token without expires_in lasts 60 s. Renew 10 s early.
    const life = Math.max(10, typeof j.expires_in === 'number' && j.expires_in > 0 ? j.expires_in : 60);
    return { token, expiresAt: started + (life - 10) * 1000 };
  }
}

function scopeKey(scopes: string[]): string {
  return [...new Set(scopes)].sort().join(' ');
}

/** Merge repository scopes: `repository:a:pull` + `repository:a:push` → `repository:a:pull,push`. */
export function mergeScopes(scopes: string[]): string[] {
  const byResource = new Map<string, Set<string>>();
  const order: string[] = [];
  for (const s of scopes) {
    const i = s.lastIndexOf(':');
    const res = s.slice(0, i);
    if (!byResource.has(res)) {
      byResource.set(res, new Set());
      order.push(res);
    }
    for (const a of s.slice(i + 1).split(',')) if (a) byResource.get(res)!.add(a);
  }
  return order.sort().map((r) => `${r}:${[...byResource.get(r)!].sort().join(',')}`);
}

export function repoScope(path: string, actions: ('pull' | 'push')[]): string {
  return `repository:${path}:${actions.join(',')}`;
}
