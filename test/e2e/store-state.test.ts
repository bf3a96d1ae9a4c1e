/**
 * Builds whose outcome must not depend on what the store built before: a step memo (solver/explain.ts)
 * left by another kind of instruction on the same line is explained as "instruction changed", never a crash.
 */
import { describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suiteSandbox } from './harness.js';
import { parseSteps } from './cache-steps.js';

const sb = suiteSandbox();

describe('store state', () => {
  it('WORKDIR on the line where an earlier build of the same Dockerfile had COPY --from an image: builds, says "instruction changed"', async () => {
    const ctx = join(sb.dir, 'workdir-after-copy-from');
    mkdirSync(ctx);
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY --from=busybox /bin/busybox /bin/busybox\n');
    await sb.build(['-t', 'only-busybox', ctx]);
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM only-busybox\nWORKDIR /a/b/c\n');
    const out = await sb.tsbuild(['build', '--progress', 'plain', '-t', 'workdir', ctx]);
    expect(out.stderr).not.toMatch(/Cannot read properties|warning/i);
    expect(out.code).toBe(0);
    expect(parseSteps(out.stderr).get('WORKDIR /a/b/c')).toEqual({
      cached: false,
      miss: ['instruction changed', 'parent step changed ([1/2] FROM docker.io/library/only-busybox:latest)'],
    });
  });

  it('RUN on the line where an earlier build had COPY, and COPY where it had RUN', async () => {
    const ctx = join(sb.dir, 'run-after-copy');
    mkdirSync(ctx);
    writeFileSync(join(ctx, 'a.txt'), 'a\n');
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM busybox\nCOPY a.txt /a.txt\nRUN echo one > /one\n');
    await sb.build([ctx]);
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM busybox\nRUN echo two > /two\nCOPY a.txt /b.txt\n');
    const steps = parseSteps((await sb.build([ctx])).stderr);
    // The step identity includes the op type, so these have no earlier build; neither may crash.
    expect(steps.get('RUN echo two > /two')).toEqual({ cached: false, miss: ['no earlier build of this step in this store'] });
    expect(steps.get('COPY a.txt /b.txt')).toEqual({ cached: false, miss: ['no earlier build of this step in this store'] });
  });
});
