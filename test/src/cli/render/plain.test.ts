/** The plain renderer's lines for a step's sub-status (vertex.status): under the step's number, after its DONE. */
import { describe, expect, it } from 'vitest';
import { PlainRenderer } from '../../../../src/cli/render/plain.js';

describe('plain progress', () => {
  it('prints a status under its step: once when it starts, once with its duration', () => {
    let out = '';
    const r = new PlainRenderer((s) => (out += s));
    r.emit({ type: 'vertex.started', id: 'a', name: '[1/1] RUN big', at: 0 });
    r.emit({ type: 'vertex.done', id: 'a', name: '[1/1] RUN big', at: 1000, durationMs: 1000 });
    r.emit({ type: 'vertex.status', id: 'a', name: 'creating layer', at: 1000 });
    r.emit({ type: 'vertex.status', id: 'a', name: 'creating layer', at: 1000, durationMs: 3250 });
    expect(out.split('\n')).toEqual(['#1 [1/1] RUN big', '#1 DONE 1.0s', '#1 creating layer', '#1 creating layer 3.3s done', '']);
  });
});
