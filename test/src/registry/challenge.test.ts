import { describe, expect, it } from 'vitest';
import { parseChallenges } from '../../../src/registry/challenge.js';
import { mergeScopes } from '../../../src/registry/auth.js';
import { selectPlatform } from '../../../src/image/platform.js';
import { makeEndpoint } from '../../../src/registry/endpoint.js';

describe('parseChallenges', () => {
  it('reads a Bearer challenge with quoted params (commas inside quotes)', () => {
    const ch = parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/a:pull,push"');
    expect(ch).toEqual([{ scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/a:pull,push' } }]);
  });
  it('reads Basic, several challenges, and skips unknown schemes', () => {
    expect(parseChallenges('Basic realm="Registry Realm"')).toEqual([{ scheme: 'basic', params: { realm: 'Registry Realm' } }]);
    const two = parseChallenges(['Negotiate', 'Bearer realm="r", error="insufficient_scope"', 'Basic realm=x']);
    expect(two.map((c) => c.scheme)).toEqual(['bearer', 'basic']);
    expect(two[0]!.params.error).toBe('insufficient_scope');
    expect(two[1]!.params.realm).toBe('x');
    expect(parseChallenges(undefined)).toEqual([]);
  });
});

describe('mergeScopes', () => {
  it('merges actions per repository and sorts', () => {
    expect(mergeScopes(['repository:b:push', 'repository:a:pull', 'repository:b:pull'])).toEqual(['repository:a:pull', 'repository:b:pull,push']);
  });
});

describe('selectPlatform', () => {
  const d = (architecture: string, variant?: string) => ({ mediaType: 'x', digest: `sha256:${architecture}${variant ?? ''}`, size: 1, platform: { os: 'linux', architecture, ...(variant ? { variant } : {}) } });
  it('matches os/architecture and prefers the same variant', () => {
    const list = [d('arm', 'v6'), d('arm', 'v7'), d('amd64'), d('arm64', 'v8')];
    expect(selectPlatform(list, { os: 'linux', architecture: 'arm', variant: 'v7' })?.digest).toBe('sha256:armv7');
    expect(selectPlatform(list, { os: 'linux', architecture: 'amd64' })?.digest).toBe('sha256:amd64');
    expect(selectPlatform(list, { os: 'linux', architecture: 'arm64' })?.digest).toBe('sha256:arm64v8');
    expect(selectPlatform(list, { os: 'windows', architecture: 'amd64' })).toBeUndefined();
  });
});

describe('makeEndpoint', () => {
  it('HTTPS only for a remote registry; HTTPS then HTTP for localhost and --insecure-registry', async () => {
    expect((await makeEndpoint('reg.example.com')).schemes).toEqual(['https']);
    expect((await makeEndpoint('docker.io')).host).toBe('registry-1.docker.io');
    expect((await makeEndpoint('127.0.0.1:5000')).schemes).toEqual(['https', 'http']);
    expect((await makeEndpoint('reg.example.com:5000', { insecure: ['reg.example.com:5000'] })).schemes).toEqual(['https', 'http']);
    expect((await makeEndpoint('other.example.com:5000', { insecure: ['reg.example.com:5000'] })).schemes).toEqual(['https']);
  });
});
