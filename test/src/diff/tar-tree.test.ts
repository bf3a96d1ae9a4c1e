/**
 * tar-tree.ts: the tar of a tree as 1 MiB chunks. Large files are read straight into the chunks (never
 * whole in memory), and a file that changes size while it is read gives a clear error (shrunk) or a
 * well-formed tar with the size lstat gave (grown), never a corrupt archive.
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StoreError } from '../../../src/errors.js';
import { tarChunks } from '../../../src/diff/tar-tree.js';

const MiB = 1 << 20;

/** Deterministic, incompressible-looking bytes. */
function noise(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

describe('tarChunks', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tsbuild-tartree-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('streams a large file through 1 MiB chunks; GNU tar extracts it intact', () => {
    const tree = join(dir, 'tree');
    mkdirSync(join(tree, 'sub'), { recursive: true });
    const big = noise(5 * MiB + 123, 7);
    writeFileSync(join(tree, 'sub', 'big.bin'), big);
    writeFileSync(join(tree, 'a.txt'), 'hello');
    const chunks = [...tarChunks(tree, new Set())];
    expect(chunks.length).toBeGreaterThanOrEqual(6);
    for (const c of chunks.slice(0, -1)) expect(c.byteLength).toBe(MiB);
    const tarFile = join(dir, 'out.tar');
    writeFileSync(tarFile, Buffer.concat(chunks));
    expect(execFileSync('tar', ['-tf', tarFile]).toString().trim().split('\n')).toEqual(['a.txt', 'sub/', 'sub/big.bin']);
    const out = join(dir, 'out');
    mkdirSync(out);
    execFileSync('tar', ['-xf', tarFile, '-C', out]);
    expect(readFileSync(join(out, 'sub', 'big.bin')).equals(big)).toBe(true);
    expect(readFileSync(join(out, 'a.txt'), 'utf8')).toBe('hello');
  });

  it('a file that shrinks while it is read fails with LAYER_CHANGED naming it', () => {
    const tree = join(dir, 'tree');
    mkdirSync(tree);
    const file = join(tree, 'f.bin');
    writeFileSync(file, noise(4 * MiB, 3));
    const gen = tarChunks(tree, new Set());
    expect(gen.next().value?.byteLength).toBe(MiB); // paused inside the file
    truncateSync(file, MiB + 10);
    let err: unknown;
    try {
      for (let r = gen.next(); !r.done; r = gen.next()) {
        // consume
      }
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).code).toBe('LAYER_CHANGED');
    expect((err as Error).message).toContain(file);
  });

  it('a file that grows while it is read is stored with the size lstat gave, in a well-formed tar', () => {
    const tree = join(dir, 'tree');
    mkdirSync(tree);
    const file = join(tree, 'f.bin');
    const first = noise(3 * MiB + 5, 9);
    writeFileSync(file, first);
    writeFileSync(join(tree, 'z.txt'), 'after');
    const gen = tarChunks(tree, new Set());
    const chunks: Buffer[] = [gen.next().value as Buffer];
    appendFileSync(file, noise(2 * MiB, 11));
    for (let r = gen.next(); !r.done; r = gen.next()) chunks.push(r.value);
    const tarFile = join(dir, 'out.tar');
    writeFileSync(tarFile, Buffer.concat(chunks));
    const out = join(dir, 'out');
    mkdirSync(out);
    execFileSync('tar', ['-xf', tarFile, '-C', out]);
    expect(readFileSync(join(out, 'f.bin')).equals(first)).toBe(true);
    expect(readFileSync(join(out, 'z.txt'), 'utf8')).toBe('after');
  });

  it('closes the open file when the consumer stops early', () => {
    const tree = join(dir, 'tree');
    mkdirSync(tree);
    const file = join(tree, 'f.bin');
    writeFileSync(file, noise(3 * MiB, 5));
    const openOnFile = () =>
      readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`) === file;
        } catch {
          return false;
        }
      }).length;
    const gen = tarChunks(tree, new Set());
    gen.next();
    expect(openOnFile()).toBe(1);
    gen.return();
    expect(openOnFile()).toBe(0);
  });
});
