import { describe, expect, it } from 'vitest';
import type { SelectionFile } from '../../src/context/checksum.js';
import { sha256 } from '../../src/llb/digest.js';
import { explainMiss, fileReason, sameExceptLocalFiles, stepIdentities } from '../../solver/explain.js';
import type { StepMemo } from '../../solver/explain.js';
import type { Vertex } from '../../solver/types.js';

const execMap = (over: Record<string, unknown> = {}) => ({ tag: 'tsbuild.exec.v1', args: ['sh', '-c', 'make'], env: ['A=1', 'B=2'], cwd: '/', user: '', network: 'default', parent: 'P1', ...over });
const memo = (map: Record<string, unknown> & { tag: string }, files?: Record<number, SelectionFile[]>): StepMemo => ({ ids: ['x'], key: sha256(JSON.stringify(map)), map, ...(files ? { files } : {}), at: '' });
const cur = (map: Record<string, unknown> & { tag: string }, files?: Record<number, SelectionFile[]>) => ({ key: sha256(JSON.stringify(map)), map, ...(files ? { files } : {}) });

describe('explainMiss', () => {
  it.each<[string, Record<string, unknown>, string[]]>([
    ['command', { args: ['sh', '-c', 'make all'] }, ['command changed']],
    ['an env value (names only, never values)', { env: ['A=secret', 'B=2'] }, ['build arg/env changed: A (value)']],
    ['env added and removed', { env: ['A=1', 'C=3'] }, ['build arg/env changed: C (added), B (removed)']],
    ['workdir', { cwd: '/src' }, ['WORKDIR changed: / → /src']],
    ['network', { network: 'none' }, ['network changed']],
    ['a field added by a later key version (mounts)', { mounts: [{ type: 'cache' }] }, ['mounts changed']],
    ['the parent', { parent: 'P2' }, ['parent step changed ([1/2] FROM busybox)']],
    ['own change and parent', { args: ['x'], parent: 'P2' }, ['command changed', 'parent step changed ([1/2] FROM busybox)']],
  ])('names %s', (_what, over, reasons) => {
    expect(explainMiss(memo(execMap()), cur(execMap(over)), ['[1/2] FROM busybox'])).toEqual(reasons);
  });

  it('first build, pruned record, key format change', () => {
    expect(explainMiss(undefined, cur(execMap()), [])).toEqual(['no earlier build of this step in this store']);
    expect(explainMiss(memo(execMap()), cur(execMap()), [])).toEqual(['the cache record of this step was removed (pruned)']);
    expect(explainMiss(memo(execMap()), cur(execMap({ tag: 'tsbuild.exec.v2' })), [])).toEqual(['cache key format changed (tsbuild.exec.v1 → tsbuild.exec.v2)']);
  });

  it('copy actions: files from the context, flags, the source stage', () => {
    const copy = (over: Record<string, unknown> = {}) => ({ action: 'copy', sourceInput: 1, src: ['a'], dest: '/a', source: { local: 'c1' }, ...over });
    const fileMap = (...actions: unknown[]) => ({ tag: 'tsbuild.file.v2', parent: 'P', actions });
    const f1: SelectionFile[] = [['a/x', 'f', 0o644, 'h1']];
    const f2: SelectionFile[] = [['a/x', 'f', 0o644, 'h2']];
    expect(explainMiss(memo(fileMap(copy()), { 0: f1 }), cur(fileMap(copy({ source: { local: 'c2' } })), { 0: f2 }), [])).toEqual(['file changed: a/x (content)']);
    expect(explainMiss(memo(fileMap(copy())), cur(fileMap(copy({ chmod: '755' }))), [])).toEqual(['--chmod changed']);
    expect(explainMiss(memo(fileMap(copy({ source: { key: 'k1' } }))), cur(fileMap(copy({ source: { key: 'k2' } }))), ['FROM', '[build 3/3] RUN make'])).toEqual([
      'source changed ([build 3/3] RUN make)',
    ]);
  });
});

describe('fileReason', () => {
  it('names the first few changed paths and how each changed', () => {
    const prev: SelectionFile[] = [['a', 'f', 0o644, 'h'], ['b', 'f', 0o644, 'h'], ['l', 'l', 0o777, 'x'], ['gone', 'f', 0o644, 'h']];
    const now: SelectionFile[] = [['a', 'f', 0o755, 'h'], ['b', 'f', 0o644, 'H'], ['l', 'l', 0o777, 'y'], ['new', 'd', 0o755, '']];
    expect(fileReason(prev, now)).toBe('5 files changed: a (mode 644 → 755), b (content), l (link target), new (added), gone (removed)');
    const many: SelectionFile[] = Array.from({ length: 9 }, (_, i) => [`f${i}`, 'f', 0o644, 'h']);
    expect(fileReason([], many)).toBe('9 files changed: f0 (added), f1 (added), f2 (added), f3 (added), f4 (added), and 4 more');
  });
});

describe('stepIdentities', () => {
  const v = (description: string, line?: number, stage = 'build'): Vertex =>
    ({ digest: 'd', inputs: [], op: { type: 'exec' }, metadata: { description, stage, ...(line ? { location: { file: 'Dockerfile', line } } : {}) } }) as unknown as Vertex;
  it('by location first, then by instruction text; the content never enters it', () => {
    const [byLoc, byText] = stepIdentities(v('[build 2/4] RUN make', 7), 'ctx');
    expect(stepIdentities(v('[build 3/5] RUN make all', 7), 'ctx')[0]).toBe(byLoc);
    expect(stepIdentities(v('[build 3/5] RUN make', 9), 'ctx')[1]).toBe(byText);
    expect(stepIdentities(v('[build 2/4] RUN make', 7), 'other project')[0]).not.toBe(byLoc);
    expect(stepIdentities(v('[build 2/4] RUN make'), 'ctx')).toHaveLength(1);
  });
});

describe('sameExceptLocalFiles (may an incremental COPY start from the earlier build?)', () => {
  const fileMap = (over: Record<string, unknown> = {}, local = 'sha256:a') => ({
    tag: 'tsbuild.file.v2',
    parent: 'P1',
    actions: [{ action: 'copy', src: ['.'], dest: '/app/', allowWildcard: true, followSymlinks: false, source: { local }, ...over }],
  });
  it('only the local checksum may differ', () => {
    expect(sameExceptLocalFiles(fileMap(), fileMap({}, 'sha256:b'))).toBe(true);
    expect(sameExceptLocalFiles(fileMap(), { ...fileMap({}, 'sha256:b'), parent: 'P2' })).toBe(false);
    expect(sameExceptLocalFiles(fileMap(), fileMap({ dest: '/srv/' }, 'sha256:b'))).toBe(false);
    expect(sameExceptLocalFiles(fileMap(), fileMap({ chmod: '755' }, 'sha256:b'))).toBe(false);
    expect(sameExceptLocalFiles(fileMap(), fileMap({ source: { key: 'K' } }))).toBe(false);
    expect(sameExceptLocalFiles(fileMap(), { ...fileMap({}, 'sha256:b'), tag: 'tsbuild.file.v3' })).toBe(false);
    expect(sameExceptLocalFiles(execMap(), execMap())).toBe(false);
  });
});
