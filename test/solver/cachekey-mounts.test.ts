import { describe, expect, it } from 'vitest';
import { cacheMap, computeCacheKey, type KeyInput } from '../../solver/cachekey.js';
import type { ExecMount, ExecOp, Op } from '../../src/llb/types.js';

const parent: KeyInput = { op: { type: 'source', inputs: [], source: { kind: 'scratch' } }, key: 'sha256:' + 'a'.repeat(64) };
const stage = (k: string): KeyInput => ({ op: { type: 'source', inputs: [], source: { kind: 'scratch' } } as Op, key: 'sha256:' + k.repeat(64) });
const ctx: KeyInput = { op: { type: 'source', inputs: [], source: { kind: 'local', name: 'context', excludePatterns: [] } }, key: 'sha256:' + 'c'.repeat(64) };

function exec(mounts?: ExecMount[]): ExecOp {
  return {
    type: 'exec',
    inputs: ['sha256:p', 'sha256:m'],
    args: ['/bin/sh', '-c', 'make'],
    env: [],
    cwd: '/',
    user: '',
    network: 'default',
    ...(mounts ? { mounts } : {}),
  };
}

describe('exec cache key with RUN --mount', () => {
  it('has no mounts entry without mounts (keys of plain RUN steps are unchanged)', () => {
    expect('mounts' in cacheMap(exec(), [parent])).toBe(false);
  });

  it('a bind mount counts by its source input key, not by the input index', () => {
    const m: ExecMount = { type: 'bind', target: '/m', input: 1, source: 'x', readonly: true };
    const a = computeCacheKey(exec([m]), [parent, stage('1')]);
    const b = computeCacheKey(exec([m]), [parent, stage('2')]);
    expect(a).not.toBe(b);
    expect(JSON.stringify(cacheMap(exec([m]), [parent, stage('1')]))).not.toContain('"input"');
  });

  it('a bind mount of the context counts by the checksum of what it reads', () => {
    const m: ExecMount = { type: 'bind', target: '/src', input: 1, source: 'src', readonly: true };
    const a = computeCacheKey(exec([m]), [parent, ctx], { mountChecksums: { 0: 'sha256:' + '1'.repeat(64) } });
    const b = computeCacheKey(exec([m]), [parent, ctx], { mountChecksums: { 0: 'sha256:' + '2'.repeat(64) } });
    expect(a).not.toBe(b);
  });

  it('cache, tmpfs, secret and ssh mounts count by declaration only', () => {
    const secret: ExecMount = { type: 'secret', id: 'tok', target: '/run/secrets/tok', required: false, mode: 0o400, uid: 0, gid: 0 };
    const cache: ExecMount = { type: 'cache', target: '/c', id: 'c', sharing: 'shared', readonly: false, mode: 0o755, uid: 0, gid: 0 };
    const map = cacheMap(exec([secret, cache, { type: 'tmpfs', target: '/t' }]), [parent]);
    expect(map.mounts).toEqual([secret, cache, { type: 'tmpfs', target: '/t' }]);
    // A different target is a different step.
    expect(computeCacheKey(exec([secret]), [parent])).not.toBe(computeCacheKey(exec([{ ...secret, target: '/k' }]), [parent]));
  });
});
