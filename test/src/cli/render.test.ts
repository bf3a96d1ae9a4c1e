import { describe, expect, it } from 'vitest';
import { PlainRenderer } from '../../../src/cli/render/plain.js';

describe('plain progress', () => {
  it('numbers steps and prints start, output, CACHED and DONE with the time', () => {
    let out = '';
    const r = new PlainRenderer((s) => (out += s));
    r.emit({ type: 'vertex.cached', id: 'a', name: '[1/3] FROM busybox', at: 0 });
    r.emit({ type: 'vertex.started', id: 'b', name: '[2/3] RUN make', at: Date.now() });
    r.emit({ type: 'vertex.log', id: 'b', stream: 'stdout', data: 'line one\nline two\n' });
    r.emit({ type: 'vertex.done', id: 'b', name: '[2/3] RUN make', at: 0, durationMs: 1234 });
    r.emit({ type: 'warning', message: 'unused build arg X', file: 'Dockerfile', line: 2 });
    const lines = out.trimEnd().split('\n');
    expect(lines[0]).toBe('#1 [1/3] FROM busybox');
    expect(lines[1]).toBe('#1 CACHED');
    expect(lines[2]).toBe('#2 [2/3] RUN make');
    expect(lines[3]).toMatch(/^#2 \d+\.\d{3} line one$/);
    expect(lines[4]).toMatch(/^#2 \d+\.\d{3} line two$/);
    expect(lines[5]).toBe('#2 DONE 1.2s');
    expect(lines[6]).toBe('WARNING: Dockerfile:2: unused build arg X');
  });
});
