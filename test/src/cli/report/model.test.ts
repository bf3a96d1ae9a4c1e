import { describe, expect, it } from 'vitest';
import { criticalPath, downstream, parallelism, runFromEvents, stageTimes, stepsOf } from '../../../../src/cli/report/model.js';
import type { Definition } from '../../../../src/llb/types.js';

// Two stages: base ← copy(ctx) ← run (stage a); base ← run2 (stage b); final copy reads run and run2.
const def = {
  version: 1,
  ops: {
    img: { type: 'source', inputs: [], source: { kind: 'image', ref: 'busybox' } },
    ctx: { type: 'source', inputs: [], source: { kind: 'local', name: 'context', excludePatterns: [] } },
    cp: { type: 'file', inputs: ['img', 'ctx'], actions: [{ action: 'copy', sourceInput: 1, src: ['src'], dest: '/src', allowWildcard: true, followSymlinks: true }] },
    run: { type: 'exec', inputs: ['cp'], args: ['/bin/sh', '-c', 'make'], env: [], cwd: '/', user: '', network: 'default' },
    run2: { type: 'exec', inputs: ['img'], args: ['/bin/sh', '-c', 'other'], env: [], cwd: '/', user: '', network: 'default' },
    fin: { type: 'file', inputs: ['run', 'run2'], actions: [{ action: 'copy', sourceInput: 1, src: ['/x'], dest: '/x', allowWildcard: false, followSymlinks: false }] },
  },
  metadata: {
    img: { description: '[a 1/3] FROM busybox', stage: 'a', location: { file: 'Dockerfile', line: 1 } },
    ctx: { description: '[internal] load build context' },
    cp: { description: '[a 2/3] COPY src /src', stage: 'a', location: { file: 'Dockerfile', line: 2 } },
    run: { description: '[a 3/3] RUN make', stage: 'a', location: { file: 'Dockerfile', line: 3 } },
    run2: { description: '[b 2/2] RUN other', stage: 'b', location: { file: 'Dockerfile', line: 5 } },
    fin: { description: '[a 4/4] COPY --from=b /x /x', stage: 'a', location: { file: 'Dockerfile', line: 6 } },
  },
  output: 'fin',
} as unknown as Definition;

describe('report model', () => {
  const steps = stepsOf(def);
  it('steps: every op but the context, with stage, line, step inputs and context sources', () => {
    expect(steps.map((s) => s.id)).toEqual(['img', 'cp', 'run', 'run2', 'fin']);
    expect(steps.find((s) => s.id === 'cp')).toMatchObject({ kind: 'copy', inputs: ['img'], contextSources: ['src'], line: 2, stage: 'a' });
    expect(steps.find((s) => s.id === 'fin')).toMatchObject({ kind: 'copy', inputs: ['run', 'run2'] });
    expect(steps.find((s) => s.id === 'fin')!.contextSources).toBeUndefined();
  });

  it('a run from progress events: ran with reasons, cached, failed, not reached', () => {
    const r = runFromEvents(steps, [
      { type: 'vertex.cached', id: 'img', name: 'x', at: 1010 },
      { type: 'vertex.started', id: 'cp', name: 'x', at: 1100, cacheMiss: ['file changed: src/a (content)'] },
      { type: 'vertex.log', id: 'cp', stream: 'stdout', data: 'hi' },
      { type: 'vertex.done', id: 'cp', name: 'x', at: 1300, durationMs: 200 },
      { type: 'vertex.started', id: 'run', name: 'x', at: 1300 },
      { type: 'vertex.failed', id: 'run', name: 'x', at: 1800, error: 'exit 1' },
      { type: 'vertex.started', id: 'export', name: 'exporting to image', at: 1900 },
    ], 1000, 900);
    expect(r.steps.map((s) => s.id)).toEqual(['img', 'cp', 'run', 'run2', 'fin']);
    expect(r.steps).toEqual([
      { id: 'img', status: 'cached', startMs: 10, durationMs: 0 },
      { id: 'cp', status: 'ran', startMs: 100, durationMs: 200, cacheMiss: ['file changed: src/a (content)'] },
      { id: 'run', status: 'failed', startMs: 300, durationMs: 500, error: 'exit 1' },
      { id: 'run2', status: 'not-reached', startMs: 0, durationMs: 0 },
      { id: 'fin', status: 'not-reached', startMs: 0, durationMs: 0 },
    ]);
  });

  it('matches a step by name when its op digest differs (other build args)', () => {
    const r = runFromEvents(steps, [
      { type: 'vertex.started', id: 'other-digest', name: '[b 2/2] RUN other', at: 1000 },
      { type: 'vertex.done', id: 'other-digest', name: '[b 2/2] RUN other', at: 1500, durationMs: 500 },
    ], 1000, 600);
    expect(r.steps.find((s) => s.id === 'run2')).toEqual({ id: 'run2', status: 'ran', startMs: 0, durationMs: 500 });
  });

  it('critical path follows the input that ended last; parallelism and stage times from the run', () => {
    const run = {
      startedAt: 0,
      wallMs: 10_000,
      steps: [
        { id: 'img', status: 'ran' as const, startMs: 0, durationMs: 1000 },
        { id: 'cp', status: 'ran' as const, startMs: 1000, durationMs: 1000 },
        { id: 'run', status: 'ran' as const, startMs: 2000, durationMs: 5000 },
        { id: 'run2', status: 'ran' as const, startMs: 1000, durationMs: 2000 },
        { id: 'fin', status: 'ran' as const, startMs: 7000, durationMs: 1000 },
      ],
    };
    expect(criticalPath(steps, run)).toEqual({ ids: ['img', 'cp', 'run', 'fin'], ms: 8000 });
    expect(parallelism(run)).toBeCloseTo(10_000 / 8000);
    expect(stageTimes(steps, run)).toEqual([{ stage: 'a', ms: 8000 }, { stage: 'b', ms: 2000 }]);
    expect([...downstream(steps, 'cp')].sort()).toEqual(['cp', 'fin', 'run']);
    expect([...downstream(steps, 'img')].sort()).toEqual(['cp', 'fin', 'img', 'run', 'run2']);
  });
});
