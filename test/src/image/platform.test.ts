import { describe, expect, it } from 'vitest';
import { formatPlatform, hostPlatform, normalizePlatform, parsePlatform, parsePlatformList, platformMatches, selectPlatform, specPlatform } from '../../../src/image/platform.js';
import type { Descriptor, Platform } from '../../../src/image/types.js';

const p = (text: string): Platform => parsePlatform(text)!;
const d = (digest: string, platform?: Platform): Descriptor => ({ mediaType: 'm', digest, size: 1, ...(platform ? { platform } : {}) });

describe('the one platform matcher', () => {
  it('normalises as containerd: aliases, arm64 → v8, arm → v7, amd64/v1 → amd64', () => {
    expect(formatPlatform(normalizePlatform(p('linux/aarch64')))).toBe('linux/arm64/v8');
    expect(formatPlatform(normalizePlatform(p('linux/arm64')))).toBe('linux/arm64/v8');
    expect(formatPlatform(normalizePlatform(p('linux/arm')))).toBe('linux/arm/v7');
    expect(formatPlatform(normalizePlatform(p('linux/arm/6')))).toBe('linux/arm/v6');
    expect(formatPlatform(normalizePlatform(p('Linux/x86_64')))).toBe('linux/amd64');
    expect(formatPlatform(normalizePlatform(p('linux/amd64/v1')))).toBe('linux/amd64');
    expect(parsePlatform('linux')).toBeNull();
    expect(parsePlatform('linux//v7')).toBeNull();
  });

  it('matches os/arch; a variant counts when both sides name one', () => {
    expect(platformMatches(p('linux/arm64'), p('linux/arm64/v8'))).toBe(true);
    expect(platformMatches(p('linux/arm/v6'), p('linux/arm'))).toBe(false); // arm means arm/v7
    expect(platformMatches(p('linux/amd64/v2'), p('linux/amd64'))).toBe(true);
    expect(platformMatches(p('linux/amd64'), p('linux/arm64'))).toBe(false);
    expect(platformMatches(p('windows/amd64'), p('linux/amd64'))).toBe(false);
  });

  it('chooses the same variant first, then an entry without one', () => {
    const list = [d('sha256:armv6', p('linux/arm/v6')), d('sha256:armv7', p('linux/arm/v7')), d('sha256:arm64', p('linux/arm64')), d('sha256:amd64', p('linux/amd64')), d('sha256:none')];
    expect(selectPlatform(list, p('linux/arm'))?.digest).toBe('sha256:armv7');
    expect(selectPlatform(list, p('linux/arm/v6'))?.digest).toBe('sha256:armv6');
    expect(selectPlatform(list, p('linux/aarch64'))?.digest).toBe('sha256:arm64');
    expect(selectPlatform(list, p('linux/x86_64'))?.digest).toBe('sha256:amd64');
    expect(selectPlatform(list, p('linux/s390x'))).toBeUndefined();
  });

  it("knows this host's platform", () => {
    expect(hostPlatform().os).toBe('linux');
    expect(hostPlatform().architecture).toBe(process.arch === 'x64' ? 'amd64' : process.arch);
  });

  it('writes a platform as BuildKit does: arm64 without v8, arm with v7 (TARGETVARIANT, index entries)', () => {
    expect(formatPlatform(specPlatform(p('linux/arm64/v8')))).toBe('linux/arm64');
    expect(formatPlatform(specPlatform(p('linux/aarch64')))).toBe('linux/arm64');
    expect(formatPlatform(specPlatform(p('linux/arm')))).toBe('linux/arm/v7');
    expect(formatPlatform(specPlatform(p('linux/arm64/v9')))).toBe('linux/arm64/v9');
  });

  it('reads --platform lists: comma-separated, repeatable, normalised, duplicates dropped, local = this host', () => {
    const got = parsePlatformList(['linux/amd64,linux/arm64', ' linux/aarch64 ', 'local']);
    expect('platforms' in got && got.platforms.map(formatPlatform)).toEqual(['linux/amd64', 'linux/arm64/v8', ...(hostPlatform().architecture === 'amd64' ? [] : [formatPlatform(hostPlatform())])]);
    expect(parsePlatformList(['linux/amd64,linux'])).toEqual({ bad: 'linux' });
  });
});
