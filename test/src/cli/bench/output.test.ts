import { describe, expect, it } from 'vitest';
import { benchHtml, stepDetails } from '../../../../src/cli/bench/output.js';
import { BENCH_SCHEMA, type BenchReport, type ScenarioResult } from '../../../../src/cli/bench/types.js';

const scenario = (name: string, stepBytes?: ScenarioResult['stepBytes']): ScenarioResult => ({
  name,
  kind: name === 'cold' ? 'cold' : 'noop',
  wallMs: 1000,
  wallMsRuns: [1000],
  ran: stepBytes ? 2 : 0,
  cached: stepBytes ? 0 : 2,
  criticalPath: { ms: 900, steps: ['s1', 's2'] },
  parallelism: 1,
  stages: [{ stage: '0', ms: 900 }],
  bytesReadFromContext: 1_500_000,
  bytesWritten: 2_000_000,
  ...(stepBytes ? { stepBytes } : {}),
  run: {
    startedAt: 0,
    wallMs: 1000,
    steps: [
      { id: 's1', status: stepBytes ? 'ran' : 'cached', startMs: 0, durationMs: 400 },
      { id: 's2', status: stepBytes ? 'ran' : 'cached', startMs: 400, durationMs: 500 },
    ],
  },
});

const report: BenchReport = {
  schema: BENCH_SCHEMA,
  createdAt: '2026-12-03T00:00:00Z',
  context: '/ctx',
  dockerfile: '/ctx/Dockerfile',
  target: null,
  buildArgs: {},
  runs: 1,
  inPlace: false,
  steps: [
    { id: 's1', name: '[1/2] COPY app /app', stage: '0', line: 2, kind: 'copy', inputs: [], contextSources: ['app'] },
    { id: 's2', name: '[2/2] RUN make', stage: '0', line: 3, kind: 'exec', inputs: ['s1'] },
  ],
  scenarios: [scenario('cold', [{ step: 's1', read: 1_500_000, written: 1_600_000 }, { step: 's2', read: 0, written: 250_000 }]), scenario('noop')],
  changeCosts: [],
  hints: [],
} as unknown as BenchReport;

describe('bench report page: per-step bytes', () => {
  it("a step that ran shows the context bytes it read and the layer it wrote; a cached one shows none", () => {
    const cold = stepDetails(report, report.scenarios[0]!);
    expect(cold.s1).toEqual(['context sources: app', expect.stringMatching(/^instruction: /), 'context read: 1.50MB', 'layer written: 1.60MB']);
    expect(cold.s2).toEqual(['context read: 0B', 'layer written: 250.0kB']);
    const noop = stepDetails(report, report.scenarios[1]!);
    expect(noop.s1?.some((l) => l.startsWith('layer written'))).toBe(false);
    expect(noop.s2).toBeUndefined();
    const html = benchHtml(report);
    expect(html).toContain('layer written: 1.60MB');
    expect(html).toContain('context read: 1.50MB');
  });
});
