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
      await ensureStore(storeLayout(root));
      expect(statSync(root).mode & 0o777).toBe(0o700);
      expect(statSync(join(root, 'snapshots')).isDirectory()).toBe(true);
      expect(storeRoot('/x')).toBe('/x');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
