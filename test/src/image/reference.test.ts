import { describe, expect, it } from 'vitest';
import { familiarName, normalizeReference, parseReference } from '../../../src/image/reference.js';

const D = 'sha256:' + 'ab'.repeat(32);

describe('normalizeReference', () => {
  it.each([
    ['busybox', 'docker.io/library/busybox:latest'],
    ['app:v1', 'docker.io/library/app:v1'],
    ['me/app', 'docker.io/me/app:latest'],
    ['docker.io/busybox', 'docker.io/library/busybox:latest'],
    ['index.docker.io/library/busybox:1.36', 'docker.io/library/busybox:1.36'],
    ['localhost:5000/a/b', 'localhost:5000/a/b:latest'],
    ['localhost/app', 'localhost/app:latest'],
    ['localhost:5000', 'docker.io/library/localhost:5000'],
    ['registry.example.com/team/app:v1.2-rc_3', 'registry.example.com/team/app:v1.2-rc_3'],
    ['Registry/app', 'Registry/app:latest'],
    ['[::1]:5000/app', '[::1]:5000/app:latest'],
    ['a.b-c/e', 'a.b-c/e:latest'],
    ['x/a_b.c--d', 'docker.io/x/a_b.c--d:latest'],
    [`busybox@${D}`, `docker.io/library/busybox@${D}`],
    [`busybox:1.36@${D}`, `docker.io/library/busybox:1.36@${D}`],
    [`localhost:5000/a@${D}`, `localhost:5000/a@${D}`],
  ])('%s → %s', (input, expected) => {
    expect(normalizeReference(input)).toBe(expected);
    expect(normalizeReference(expected)).toBe(expected); // idempotent
  });

  it.each([
    ['', /empty/],
    ['Busybox', /lower case/],
    ['me/App', /lower case/],
    ['busybox:', /not a valid tag/],
    ['busybox:-x', /not a valid tag/],
    ['busybox:' + 'a'.repeat(129), /not a valid tag/],
    ['busybox@sha256:abc', /not a valid digest/],
    ['busybox@sha256:' + 'A'.repeat(64), /lower-case hex/],
    ['busybox@md5:' + 'a'.repeat(32), /unsupported digest algorithm "md5"/],
    ['busybox@blake3:' + 'a'.repeat(64), /unsupported digest algorithm "blake3"/],
    ['busybox@sha512:' + 'a'.repeat(64), /128 hex digits, not 64/],
    ['a.b-c__d/e', /registry host/],
    ['busybox@nothex', /not a valid digest/],
    ['a//b', /path component/],
    ['-a', /path component/],
    ['a_', /path component/],
    ['bad_host.com/a', /registry host/],
    ['localhost:99999/a', /port 99999 of "localhost:99999" is out of range/],
    ['localhost:0/a', /out of range/],
    ['foo bar', /whitespace/],
    [':tag', /repository name is missing/],
    ['x/' + 'a'.repeat(300), /longer than 255/],
  ])('rejects %j', (input, why) => {
    expect(() => normalizeReference(input)).toThrow(why);
    try {
      normalizeReference(input);
    } catch (err) {
      expect(err).toMatchObject({ code: 'BAD_REFERENCE', exitCode: 2 });
    }
  });

  it('parses into domain, path, tag and digest', () => {
    expect(parseReference(`localhost:5000/a/b:t@${D}`)).toEqual({ domain: 'localhost:5000', path: 'a/b', tag: 't', digest: D });
    expect(parseReference('alpine')).toEqual({ domain: 'docker.io', path: 'library/alpine' });
  });
});

describe('familiarName', () => {
  it.each([
    ['docker.io/library/app:v1', 'app:v1'],
    ['docker.io/library/busybox:latest', 'busybox:latest'],
    ['docker.io/me/app:v1', 'me/app:v1'],
    ['docker.io/library/a/b:v1', 'library/a/b:v1'],
    [`docker.io/library/busybox@${D}`, `busybox@${D}`],
    ['localhost:5000/a/b:latest', 'localhost:5000/a/b:latest'],
    ['ghcr.io/library/x:1', 'ghcr.io/library/x:1'],
  ])('%s → %s', (input, expected) => {
    expect(familiarName(input)).toBe(expected);
    expect(normalizeReference(familiarName(input))).toBe(normalizeReference(input));
  });
});
