/**
 * The npm package works when installed elsewhere: `npm pack` of this checkout (dist/ as `npm run build`
 * left it: prepack is that same build), `npm install -g --prefix TMP` with no network (the bundle has no
 * runtime dependencies), then TMP/bin/tsbuild --version and a tiny build outside the checkout.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repo } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'tsbuild-pack-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('npm pack → npm install -g --prefix', () => {
  it('installs a tsbuild command that reports the package version and builds', () => {
    const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));
    expect(pkg.name).toBe('@tsbuild/cli');
    expect(pkg.bin).toEqual({ tsbuild: 'bin/tsbuild' });
    expect(pkg.scripts.prepack).toBe('npm run build');
    expect(pkg.dependencies ?? {}).toEqual({});
    const packed = JSON.parse(execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] }).toString())[0];
    const files: string[] = packed.files.map((f: { path: string }) => f.path);
    expect(files).toEqual(expect.arrayContaining(['bin/tsbuild', 'bin/package.json', 'dist/bundle/main.cjs', 'dist/bundle/code-cache.cjs', 'dist/bundle/replay.cjs', 'dist/bundle/tar-worker.js', 'package.json']));
    // A code cache or its temporary file left in the checkout's dist/ (src/cli/code-cache.ts) is never packed.
    expect(files.filter((f) => f.includes('.v8cache'))).toEqual([]);
    expect(files.filter((f) => f.startsWith('src/') || f.startsWith('test/') || f.startsWith('dist/src/'))).toEqual([]);

    const prefix = join(dir, 'prefix');
    execFileSync('npm', ['install', '-g', '--offline', '--no-audit', '--no-fund', '--prefix', prefix, join(dir, packed.filename)], { cwd: dir, stdio: 'pipe' });
    const bin = join(prefix, 'bin', 'tsbuild');
    const env = { ...process.env, TSBUILD_ROOT: join(dir, 'store'), NO_COLOR: '1' };
    expect(execFileSync(bin, ['--version'], { cwd: dir, env }).toString()).toBe(`tsbuild ${pkg.version}\n`);
    expect(execFileSync(bin, ['-v'], { cwd: dir, env }).toString()).toBe(`tsbuild ${pkg.version}\n`);

    const ctx = join(dir, 'ctx');
    mkdirSync(ctx);
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY hello.txt /hello.txt\n');
    writeFileSync(join(ctx, 'hello.txt'), 'packed\n');
    execFileSync(bin, ['build', '--progress', 'plain', '-o', `type=local,dest=${join(dir, 'out')}`, ctx], { cwd: dir, env, stdio: 'pipe' });
    expect(readFileSync(join(dir, 'out', 'hello.txt'), 'utf8')).toBe('packed\n');
  });
});
