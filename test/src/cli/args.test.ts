import { describe, expect, it } from 'vitest';
import { parseBuildArgs, parseOutput } from '../../../src/cli/args.js';
import { UsageError } from '../../../src/errors.js';

describe('build flags', () => {
  it('parses docker buildx build flags', () => {
    const a = parseBuildArgs(['-t', 'app:v1', '--tag', 'app:latest', '-f', 'x/Dockerfile', '--build-arg', 'A=1', '--build-arg', 'B=x=y', '--target', 'build', '--no-cache', '--progress', 'plain', '-o', 'type=oci,dest=out.tar', 'ctx']);
    expect(a).toMatchObject({
      context: 'ctx',
      tags: ['app:v1', 'app:latest'],
      file: 'x/Dockerfile',
      buildArgs: { A: '1', B: 'x=y' },
      target: 'build',
      noCache: true,
      progress: 'plain',
      outputs: [{ type: 'oci', dest: 'out.tar' }],
    });
  });

  it('takes a bare --build-arg NAME from the environment, as Docker does', () => {
    process.env.TSBUILD_TEST_ARG = 'from-env';
    expect(parseBuildArgs(['--build-arg', 'TSBUILD_TEST_ARG', '--build-arg', 'TSBUILD_UNSET_ARG_X', '.']).buildArgs).toEqual({ TSBUILD_TEST_ARG: 'from-env' });
    delete process.env.TSBUILD_TEST_ARG;
  });

  it('rejects bad usage with UsageError', () => {
    expect(() => parseBuildArgs([])).toThrow(/requires exactly 1 argument/);
    expect(() => parseBuildArgs(['a', 'b'])).toThrow(UsageError);
    expect(() => parseBuildArgs(['--bogus', '.'])).toThrow(/bogus/);
    expect(() => parseBuildArgs(['--progress', 'fancy', '.'])).toThrow(/auto, plain, tty/);
    expect(() => parseOutput('type=oci')).toThrow(/dest=FILE/);
    expect(() => parseOutput('type=nope,dest=x')).toThrow(/unknown type "nope"/);
    expect(() => parseOutput('type=oci,dest=x,garbage')).toThrow(/key=value/);
  });
});

describe('store location', () => {
  it('is private to its owner (0700), even when the folder existed with wider modes', async () => {
    const { mkdtempSync, statSync, mkdirSync, rmSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const { storeLayout, ensureStore, storeRoot } = await import('../../../src/cli/store-root.js');
    const dir = mkdtempSync(join(tmpdir(), 'tsbuild-store-'));
    try {
      const root = join(dir, 'store');
      mkdirSync(root, { mode: 0o755 });
      expect(await ensureStore(storeLayout(root))).toBe(false); // it existed
      expect(statSync(root).mode & 0o777).toBe(0o700);
      expect(await ensureStore(storeLayout(join(dir, 'new', 'store')))).toBe(true); // made now (and its parent)
      expect(await ensureStore(storeLayout(join(dir, 'new', 'store')))).toBe(false);
      expect(statSync(join(root, 'snapshots')).isDirectory()).toBe(true);
      expect(storeRoot('/x')).toBe('/x');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('buildx flag syntax', () => {
  it('takes --flag=true|false for boolean flags', async () => {
    const { booleanValues, BUILD_OPTIONS } = await import('../../../src/cli/args.js');
    expect(booleanValues(['--push=false', '--pull=true', '--rm=0', '-t', 'x', '--', '--load=true'], BUILD_OPTIONS)).toEqual({
      args: ['--pull', '-t', 'x', '--', '--load=true'],
      explicitFalse: new Set(['push', 'rm']),
    });
    expect(() => booleanValues(['--push=maybe'], BUILD_OPTIONS)).toThrow(/invalid argument "maybe" for "--push" flag/);
  });

  it('parses --build-context, --add-host and --annotation as buildx does', async () => {
    const { parseBuildContext, parseAddHost, parseAnnotations } = await import('../../../src/cli/buildx-args.js');
    expect(parseBuildContext('Base=docker-image://alpine:3.19')).toEqual({ name: 'base', kind: 'image', ref: 'alpine:3.19' });
    expect(parseBuildContext('src=../src')).toEqual({ name: 'src', kind: 'local', path: '../src' });
    expect(parseBuildContext('x=oci-layout:///tmp/layout:v1')).toEqual({ name: 'x', kind: 'oci-layout', dir: '/tmp/layout', tag: 'v1' });
    expect(parseBuildContext(`x=oci-layout://l@sha256:${'a'.repeat(64)}`)).toMatchObject({ dir: 'l', digest: `sha256:${'a'.repeat(64)}` });
    expect(() => parseBuildContext('nothing')).toThrow(/expected NAME=PATH/);
    expect(parseAddHost('db:10.0.0.1')).toEqual({ host: 'db', ip: '10.0.0.1' });
    expect(parseAddHost('v6:fd00::1')).toEqual({ host: 'v6', ip: 'fd00::1' });
    expect(() => parseAddHost('db:notanip')).toThrow(/expected HOST:IP/);
    expect(parseAnnotations(['a=1', 'index,manifest:b=2', 'manifest-descriptor:c=3'])).toEqual({
      'annotation-manifest.a': '1', 'annotation-index.b': '2', 'annotation-manifest.b': '2', 'annotation-manifest.c': '3',
    });
    expect(() => parseAnnotations(['bogus:a=1'])).toThrow(/unknown type "bogus"/);
  });
});
