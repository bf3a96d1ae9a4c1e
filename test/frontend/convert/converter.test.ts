/** Deep stage graphs convert without overflowing the stack (converter.ts trampolines stages; graph.ts digests iteratively). */
import { describe, expect, it } from 'vitest';
import { dockerfileToDefinition } from '../../../frontend/index.js';
import { frontendInput } from '../fake-images.js';

describe('deep stage graphs', () => {
  it('2,000 nested stages (each FROM the previous one)', async () => {
    const lines = ['FROM busybox AS s0'];
    for (let i = 1; i < 2000; i++) lines.push(`FROM s${i - 1} AS s${i}`);
    lines.push('ENV N1999=1999');
    const out = await dockerfileToDefinition(frontendInput(lines.join('\n') + '\n'));
    expect(out.definition.image.config.Env).toContain('N1999=1999');
    expect(out.stages.filter((s) => s.reachable)).toHaveLength(2000);
  });

  it('a 3,000-deep COPY --from chain', async () => {
    const lines = ['FROM busybox AS s0', 'RUN echo 0 > /f'];
    for (let i = 1; i < 3000; i++) lines.push(`FROM busybox AS s${i}`, `COPY --from=s${i - 1} /f /f`);
    const out = await dockerfileToDefinition(frontendInput(lines.join('\n') + '\n'));
    // busybox source + RUN + 2,999 copies
    expect(Object.keys(out.definition.ops)).toHaveLength(3001);
  });
});
