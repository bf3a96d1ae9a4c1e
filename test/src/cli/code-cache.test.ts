/**
 * The CLI bundle's V8 code cache (src/cli/code-cache.ts): used when it was made from the same source, written
 * after a successful build when missing or unusable, never trusted when its checksums disagree, and never a
 * reason to fail. Also through bin/tsbuild itself (a copy of the shim and the bundle in a temp dir).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadScript } from '../../../src/cli/code-cache.js';
import { repo } from '../../e2e/harness.js';

const dir = mkdtempSync(join(tmpdir(), 'tsb-codecache-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

/** A CommonJS module whose export depends on `v`, with a function that is compiled only when called. */
function module(v: string): string {
  const file = join(dir, `m${++n}.cjs`);
  writeFileSync(file, `'use strict';\nexports.value = () => ${JSON.stringify(v)} + require('node:path').sep;\nexports.name = __filename;\n`);
  return file;
}

describe('loadScript', () => {
  it('no cache: compiles, runs as require would, and save() writes one that the next load uses', () => {
    const file = module('a');
    const cache = file + '.v8cache';
    const first = loadScript(file, cache);
    expect(first.state).toBe('missing');
    expect((first.exports.value as () => string)()).toBe('a/');
    expect(first.exports.name).toBe(file);
    expect(first.save()).toBe(true);
    expect(first.save()).toBe(false); // once
    expect(readFileSync(cache).subarray(0, 8).toString()).toBe('TSBV8C1\n');
    const second = loadScript(file, cache);
    expect(second.state).toBe('used');
    expect((second.exports.value as () => string)()).toBe('a/');
    expect(second.save()).toBe(false); // a usable cache is not written again
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('a cache made from other code of the same length is not used (V8 itself checks only the length)', () => {
    const file = module('b');
    const cache = file + '.v8cache';
    loadScript(file, cache).save();
    writeFileSync(file, readFileSync(file, 'utf8').replace('"b"', '"c"'));
    const other = loadScript(file, cache);
    expect(other.state).toBe('mismatch');
    expect((other.exports.value as () => string)()).toBe('c/');
    expect(other.save()).toBe(true);
    expect(loadScript(file, cache).state).toBe('used');
  });

  it('damaged or truncated cache bytes never reach V8: compiled without, then written again', () => {
    const file = module('d');
    const cache = file + '.v8cache';
    loadScript(file, cache).save();
    const good = readFileSync(cache);
    const flipped = Buffer.from(good);
    flipped[flipped.length - 7]! ^= 0x5a;
    for (const bad of [flipped, good.subarray(0, good.length - 100), good.subarray(0, 10), Buffer.from('not a cache')]) {
      writeFileSync(cache, bad);
      const l = loadScript(file, cache);
      expect(l.state).toBe('mismatch');
      expect((l.exports.value as () => string)()).toBe('d/');
    }
    expect(loadScript(file, cache).save()).toBe(true);
    expect(readFileSync(cache).equals(good) || loadScript(file, cache).state === 'used').toBe(true);
  });

  it('TSBUILD_CODE_CACHE=0: neither read nor written', () => {
    const file = module('e');
    const cache = file + '.v8cache';
    loadScript(file, cache).save();
    const off = loadScript(file, cache, { TSBUILD_CODE_CACHE: '0' });
    expect(off.state).toBe('off');
    expect(off.save()).toBe(false);
    rmSync(cache);
    expect(loadScript(file, cache, { TSBUILD_CODE_CACHE: '0' }).save()).toBe(false);
    expect(existsSync(cache)).toBe(false);
  });

  it('a directory it cannot write to: no cache, no error, no temporary file left', () => {
    const file = module('f');
    const ro = join(dir, 'missing-dir', 'x.v8cache');
    const l = loadScript(file, ro);
    expect(l.save()).toBe(false);
    expect(existsSync(join(dir, 'missing-dir'))).toBe(false);
  });

  it('a cache V8 refuses (made under other V8 flags) is compiled without, and written again', () => {
    const file = module('g');
    const cache = file + '.v8cache';
    const code = `const { loadScript } = await import(${JSON.stringify(join(repo, 'dist/src/cli/code-cache.js'))}); const l = loadScript(${JSON.stringify(file)}, ${JSON.stringify(cache)}); console.log(l.state, l.exports.value(), l.save());`;
    const run = (flags: string[]) => spawnSync(process.execPath, [...flags, '--input-type=module', '-e', code], { encoding: 'utf8' }).stdout.trim();
    expect(run([])).toBe('missing g/ true');
    expect(run([])).toBe('used g/ false');
    expect(run(['--no-lazy'])).toBe('rejected g/ true');
  });
});

describe('bin/tsbuild with the code cache', () => {
  // A copy of the installed layout: bin/ and dist/bundle/ only (no dist/src: the bundle is used).
  const install = join(dir, 'install');
  mkdirSync(join(install, 'bin'), { recursive: true });
  for (const f of ['tsbuild', 'package.json']) copyFileSync(join(repo, 'bin', f), join(install, 'bin', f));
  chmodSync(join(install, 'bin', 'tsbuild'), 0o755);
  cpSync(join(repo, 'dist', 'bundle'), join(install, 'dist', 'bundle'), { recursive: true, filter: (p) => !p.includes('.v8cache') });
  const cacheFile = join(install, 'dist', 'bundle', 'main.cjs.v8cache');
  const ctx = join(dir, 'ctx');
  mkdirSync(ctx, { recursive: true });
  writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY a.txt /a.txt\n');
  const tsbuild = (args: string[]) =>
    spawnSync(join(install, 'bin', 'tsbuild'), args, { encoding: 'utf8', env: { ...process.env, TSBUILD_ROOT: join(dir, 'store'), TSBUILD_CODE_CACHE_DEBUG: '1', NO_COLOR: '1' } });
  const said = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('code cache:'));

  it('help and the version are answered without loading the CLI (src/cli/instant.ts)', () => {
    const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string };
    for (const args of [['--version'], ['-v'], ['version']]) {
      const r = tsbuild(args);
      expect(r.status).toBe(0);
      expect(r.stdout).toBe(`tsbuild ${pkg.version}\n`);
      expect(said(r.stderr)).toEqual([]);
    }
    for (const args of [['push', '--help'], ['help', 'build'], ['--help']]) {
      const r = tsbuild(args);
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/^Usage: tsbuild/);
      expect(said(r.stderr)).toEqual([]);
    }
    // What main() decides loads it: an unknown help topic.
    const unknown = tsbuild(['help', 'nope']);
    expect(unknown.status).toBe(2);
    expect(said(unknown.stderr)).toEqual(['code cache: missing']);
  });

  it('the first successful build writes it, the next build uses it; other commands and failed builds never write it', () => {
    expect(existsSync(join(install, 'dist', 'bundle', 'main.cjs'))).toBe(true);
    const images = tsbuild(['images']);
    expect(images.status).toBe(0);
    expect(said(images.stderr)).toEqual(['code cache: missing']);
    const failed = tsbuild(['build', '--progress', 'plain', ctx]); // a.txt does not exist yet
    expect(failed.status).not.toBe(0);
    expect(said(failed.stderr)).toEqual(['code cache: missing']);
    expect(existsSync(cacheFile)).toBe(false);

    writeFileSync(join(ctx, 'a.txt'), 'one\n');
    const first = tsbuild(['build', '--progress', 'plain', '-t', 'cc:1', ctx]);
    expect(first.status).toBe(0);
    expect(said(first.stderr)).toEqual(['code cache: missing', 'code cache: written']);
    writeFileSync(join(ctx, 'a.txt'), 'two\n'); // not a no-op rebuild: the CLI loads
    const second = tsbuild(['build', '--progress', 'plain', '-t', 'cc:1', ctx]);
    expect(second.status).toBe(0);
    expect(said(second.stderr)).toEqual(['code cache: used']);
    expect(second.stderr).toMatch(/COPY a.txt \/a.txt/);
  });

  it('a damaged cache file: the build runs as without one, and leaves a good one', () => {
    const bytes = readFileSync(cacheFile);
    bytes[bytes.length - 1]! ^= 0xff;
    writeFileSync(cacheFile, bytes);
    writeFileSync(join(ctx, 'a.txt'), 'three\n');
    const damaged = tsbuild(['build', '--progress', 'plain', '-t', 'cc:1', ctx]);
    expect(damaged.status).toBe(0);
    expect(said(damaged.stderr)).toEqual(['code cache: mismatch', 'code cache: written']);
    writeFileSync(join(ctx, 'a.txt'), 'four\n');
    expect(said(tsbuild(['build', '--progress', 'plain', '-t', 'cc:1', ctx]).stderr)).toEqual(['code cache: used']);
  });
});
