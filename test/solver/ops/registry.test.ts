/**
 * The op module table (solver/ops/registry.ts) and explain's dispatch to it (solver/explain.ts): every kind
 * has a module whose tag is versioned; a step memo of any other kind, version or shape gives a reason,
 * never an exception (the WORKDIR-after-COPY --from crash of issue 12 was a file map of another shape).
 */
import { describe, expect, it } from 'vitest';
import { sha256 } from '../../../src/llb/digest.js';
import type { Op } from '../../../src/llb/types.js';
import { cacheMap, type CacheMap } from '../../../solver/cachekey.js';
import { explainMiss, type StepMemo } from '../../../solver/explain.js';
import { opKind } from '../../../solver/ops/op.js';
import { baseLayersOf, isLayered, isTrivial, OP_MODULES } from '../../../solver/ops/registry.js';

const P = sha256('parent');
const S = sha256('stage');
const ops: Op[] = [
  { type: 'exec', inputs: [P], args: ['sh', '-c', 'true'], env: ['A=1'], cwd: '/', user: '', network: 'default' },
  { type: 'exec', inputs: [P, S], args: ['sh'], env: [], cwd: '/', user: '', network: 'none', mounts: [{ type: 'bind', target: '/m', input: 1, source: '/', readonly: true }] },
  { type: 'file', inputs: [P, S], actions: [{ action: 'copy', sourceInput: 1, src: ['/bin/busybox'], dest: '/bin/busybox', allowWildcard: true, followSymlinks: true }] },
  { type: 'file', inputs: [P], actions: [{ action: 'mkdir', path: '/a/b/c', mode: 0o755, makeParents: true }] },
  { type: 'file', inputs: [P], actions: [{ action: 'mkfile', path: '/f', mode: 0o644, data: 'x' }] },
  { type: 'source', inputs: [], source: { kind: 'image', ref: 'docker.io/library/busybox:latest' } },
  { type: 'source', inputs: [], source: { kind: 'local', name: 'context', excludePatterns: [] } },
  { type: 'source', inputs: [], source: { kind: 'scratch' } },
  { type: 'source', inputs: [], source: { kind: 'http', url: 'http://x/f', filename: 'f' } },
  { type: 'source', inputs: [], source: { kind: 'git', remote: 'https://git.example/r.git', ref: 'main', keepGitDir: false } },
];
const scratch: Op = { type: 'source', inputs: [], source: { kind: 'scratch' } };
const facts = { imageDigest: sha256('m'), httpDigest: sha256('h'), gitCommit: 'a'.repeat(40) };
const maps: CacheMap[] = ops.map((op) => cacheMap(op, op.inputs.map((k) => ({ op: scratch, key: k })), facts));

/** Memos a store may hold: other kinds, other versions, damaged or hand-edited files. */
const damaged: CacheMap[] = [
  { tag: 'tsbuild.file.v2' },
  { tag: 'tsbuild.file.v2', parent: P, actions: [null] },
  { tag: 'tsbuild.file.v2', parent: P, actions: [{ action: 'copy' }] },
  { tag: 'tsbuild.file.v2', parent: P, actions: [{ action: 'copy', source: 'x' }] },
  { tag: 'tsbuild.file.v2', parent: P, actions: 'x' },
  { tag: 'tsbuild.file.v1', parent: P, actions: [] },
  { tag: 'tsbuild.exec.v1', args: 'sh', env: [1], parent: P },
  { tag: 'tsbuild.exec.v1', args: [], env: [], cwd: '/', user: '', network: 'default', parent: P, mounts: [null] },
  { tag: 'tsbuild.source.image.v1' },
  { tag: 'something.else.v9', parent: P },
  { tag: 42 } as unknown as CacheMap,
];

const memo = (map: CacheMap): StepMemo => ({ ids: ['x'], key: sha256(JSON.stringify(map)), map, at: '' });

describe('op module table', () => {
  it('has a module per kind, registered under its own kind, with a versioned tag', () => {
    for (const [kind, m] of Object.entries(OP_MODULES)) {
      expect(m.kind).toBe(kind);
      expect(m.tag).toMatch(/^tsbuild\.[a-z.]+\.v\d+$/);
    }
    expect(ops.map(opKind).sort()).toEqual(expect.arrayContaining(Object.keys(OP_MODULES).sort()));
    expect(ops.filter((op) => isTrivial(op)).map(opKind)).toEqual(['local', 'scratch']);
    expect(ops.filter((op) => isLayered(op)).map(opKind)).toEqual(['exec', 'exec', 'file', 'file', 'file']);
    expect(baseLayersOf(ops[7]!, {})).toEqual([]);
    expect(() => baseLayersOf(ops[6]!, {})).toThrow(/local source "context" cannot be an image's root filesystem/);
    expect(() => baseLayersOf(ops[8]!, {})).toThrow(/http source "http:\/\/x\/f" cannot be an image's root filesystem/);
    expect(() => baseLayersOf(ops[9]!, {})).toThrow(/git source "https:\/\/git.example\/r.git" cannot be an image's root filesystem/);
    expect(() => baseLayersOf(ops[0]!, {})).toThrow(/does not start a layer chain/);
  });

  it('each map is accepted by its own module, and by no other', () => {
    maps.forEach((map, i) => {
      const accepting = Object.values(OP_MODULES).filter((m) => m.readMap(map) !== undefined).map((m) => m.kind);
      expect(accepting).toEqual([opKind(ops[i]!)]);
    });
  });

  it('explains any memo against any current map without throwing', () => {
    for (const prev of [...maps, ...damaged]) {
      for (const cur of maps) {
        const reasons = explainMiss(memo(prev), { key: sha256(JSON.stringify(cur)) + 'x', map: cur }, ['[1/2] FROM x', '[stage 1/1] RUN y']);
        expect(reasons.length, JSON.stringify([prev, cur])).toBeGreaterThan(0);
        for (const r of reasons) expect(typeof r).toBe('string');
      }
    }
  });

  it('another kind, or a memo its module does not accept, is "instruction changed"; another version is named', () => {
    const [exec, , copy, mkdir] = maps;
    const reasonsFor = (prev: CacheMap, cur: CacheMap) => explainMiss(memo(prev), { key: 'k', map: cur }, []);
    expect(reasonsFor(copy!, mkdir!)).toEqual(['instruction changed']);
    expect(reasonsFor(exec!, mkdir!)).toEqual(['instruction changed']);
    expect(reasonsFor(damaged[2]!, copy!)).toEqual(['instruction changed']);
    expect(reasonsFor(damaged[5]!, copy!)).toEqual(['cache key format changed (tsbuild.file.v1 → tsbuild.file.v2)']);
    expect(reasonsFor(damaged[9]!, copy!)).toEqual(['instruction changed']);
  });

  it('names the copy\'s source stage from the current op', () => {
    const op = ops[2]!;
    const map = (key: string) => cacheMap(op, [{ op: scratch, key: P }, { op: scratch, key }]);
    expect(explainMiss(memo(map(S)), { key: 'k', map: map(sha256('other')) }, ['[1/2] FROM x', '[stage 2/2] RUN y'], { op })).toEqual([
      'source changed ([stage 2/2] RUN y)',
    ]);
  });
});
