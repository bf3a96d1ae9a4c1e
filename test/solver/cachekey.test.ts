import { describe, expect, it } from 'vitest';
import { sha256 } from '../../src/llb/digest.js';
import type { CopyAction, ExecOp, FileOp, Op } from '../../src/llb/types.js';
import { cacheMap, computeCacheKey, TAGS, type KeyInput } from '../../solver/cachekey.js';

const P1 = sha256('parent one');
const P2 = sha256('parent two');
const S1 = sha256('stage one');
const scratch: Op = { type: 'source', inputs: [], source: { kind: 'scratch' } };
const local: Op = { type: 'source', inputs: [], source: { kind: 'local', name: 'context', excludePatterns: ['*.log'] } };
const localOtherExcludes: Op = { type: 'source', inputs: [], source: { kind: 'local', name: 'context', excludePatterns: ['tmp'] } };

const exec = (over: Partial<ExecOp> = {}): ExecOp => ({
  type: 'exec', inputs: [sha256('in')], args: ['/bin/sh', '-c', 'make'], env: ['PATH=/bin'], cwd: '/src', user: '', network: 'default', ...over,
});
const copy = (over: Partial<CopyAction> = {}): CopyAction => ({
  action: 'copy', sourceInput: 1, src: ['app'], dest: '/app/', allowWildcard: false, followSymlinks: false, ...over,
});
const file = (actions: FileOp['actions']): FileOp => ({ type: 'file', inputs: [sha256('a'), sha256('b')], actions });
const parent = (key: string): KeyInput => ({ op: scratch, key });

describe('cache keys', () => {
  const base = computeCacheKey(exec(), [parent(P1)]);

  it.each<[string, ExecOp, string]>([
    ['args', exec({ args: ['/bin/sh', '-c', 'make all'] }), P1],
    ['env', exec({ env: ['PATH=/bin', 'A=1'] }), P1],
    ['env order', exec({ env: ['A=1', 'PATH=/bin'] }), P1],
    ['cwd', exec({ cwd: '/' }), P1],
    ['user', exec({ user: 'nobody' }), P1],
    ['network', exec({ network: 'none' }), P1],
    ['parent key', exec(), P2],
  ])('an exec key changes with %s', (_what, op, parentKey) => {
    expect(computeCacheKey(op, [parent(parentKey)])).not.toBe(base);
  });

  it.each<[string, ExecOp]>([
    ['proxy env', exec({ env: ['PATH=/bin', 'HTTP_PROXY=http://proxy:3128', 'no_proxy=localhost'] })],
    ['the input digest (only its key counts)', exec({ inputs: [sha256('other digest')] })],
  ])('an exec key ignores %s', (_what, op) => {
    expect(computeCacheKey(op, [parent(P1)])).toBe(base);
  });

  it('is sha256 of the canonical map with a versioned tag', () => {
    const map = cacheMap(exec(), [parent(P1)]);
    expect(map.tag).toBe('tsbuild.exec.v1');
    expect(map).toEqual({ tag: TAGS.exec, args: ['/bin/sh', '-c', 'make'], env: ['PATH=/bin'], cwd: '/src', user: '', network: 'default', parent: P1 });
    expect(base).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('copy from a stage uses that stage\'s key, not its identity', () => {
    const op = file([copy()]);
    const k1 = computeCacheKey(op, [parent(P1), { op: exec(), key: S1 }]);
    const kSame = computeCacheKey(op, [parent(P1), { op: exec({ args: ['x'] }), key: S1 }]);
    const kOther = computeCacheKey(op, [parent(P1), { op: exec(), key: P2 }]);
    expect(kSame).toBe(k1);
    expect(kOther).not.toBe(k1);
    expect(computeCacheKey(op, [parent(P2), { op: exec(), key: S1 }])).not.toBe(k1);
  });

  it('copy from a local source uses the checksum of the selected files', () => {
    const op = file([copy()]);
    const k = (src: Op, checksum: string) => computeCacheKey(op, [parent(P1), { op: src, key: sha256('local op key') }], { localChecksums: { 0: checksum } });
    const c1 = sha256('files v1');
    expect(k(local, c1)).toBe(k(localOtherExcludes, c1));
    expect(k(local, sha256('files v2'))).not.toBe(k(local, c1));
    expect(() => computeCacheKey(op, [parent(P1), { op: local, key: P2 }])).toThrow(/checksum/);
  });

  it.each<[string, Partial<CopyAction>]>([
    ['src', { src: ['lib'] }],
    ['dest', { dest: '/srv/' }],
    ['chown', { chown: { user: '1000' } }],
    ['chmod', { chmod: '755' }],
    ['wildcard', { allowWildcard: true }],
    ['symlinks', { followSymlinks: true }],
  ])('a copy key changes with %s', (_what, over) => {
    const inputs = [parent(P1), { op: exec(), key: S1 }];
    expect(computeCacheKey(file([copy(over)]), inputs)).not.toBe(computeCacheKey(file([copy()]), inputs));
  });

  it('copy from a local source keys on base names only: the same files from another directory hit', () => {
    const k = (src: string[]) => computeCacheKey(file([copy({ src })]), [parent(P1), { op: local, key: P2 }], { localChecksums: { 0: sha256('same files') } });
    expect(k(['one/conf.txt'])).toBe(k(['two/conf.txt']));
    expect(k(['a/src/'])).toBe(k(['b/src']));
    expect(k(['one/conf.txt'])).not.toBe(k(['one/other.txt']));
    expect(cacheMap(file([copy({ src: ['x/y/z.txt', '/'] })]), [parent(P1), { op: local, key: P2 }], { localChecksums: { 0: sha256('c') } })).toMatchObject({
      tag: 'tsbuild.file.v2',
      actions: [{ src: ['z.txt', '/'], source: { local: sha256('c') } }],
    });
  });

  it('mkdir actions count, in order', () => {
    const mk = { action: 'mkdir' as const, path: '/a', mode: 0o755, makeParents: true };
    const inputs = [parent(P1), { op: exec(), key: S1 }];
    const k1 = computeCacheKey(file([mk, copy()]), inputs);
    expect(computeCacheKey(file([copy(), mk]), inputs)).not.toBe(k1);
    expect(computeCacheKey(file([{ ...mk, mode: 0o700 }, copy()]), inputs)).not.toBe(k1);
  });

  it('image sources key on the manifest digest; scratch is constant', () => {
    const img = (ref: string): Op => ({ type: 'source', inputs: [], source: { kind: 'image', ref } });
    const m = sha256('manifest');
    expect(computeCacheKey(img('docker.io/library/a:1'), [], { imageDigest: m })).toBe(computeCacheKey(img('docker.io/library/b:2'), [], { imageDigest: m }));
    expect(computeCacheKey(img('docker.io/library/a:1'), [], { imageDigest: sha256('other') })).not.toBe(computeCacheKey(img('docker.io/library/a:1'), [], { imageDigest: m }));
    expect(() => computeCacheKey(img('x'), [])).toThrow(/manifest digest/);
    expect(computeCacheKey(scratch, [])).toBe(computeCacheKey({ type: 'source', inputs: [], source: { kind: 'scratch' } }, []));
    expect(cacheMap(scratch, [])).toEqual({ tag: 'tsbuild.source.scratch.v1' });
  });
});
