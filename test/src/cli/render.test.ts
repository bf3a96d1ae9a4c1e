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

describe('tty progress', () => {
  it('draws a live frame: header with counts, CACHED/running/DONE steps, log tail of running steps', async () => {
    const { TtyRenderer } = await import('../../../src/cli/render/tty.js');
    let out = '';
    const r = new TtyRenderer((s) => (out += s), () => 80, 5);
    r.emit({ type: 'vertex.cached', id: 'a', name: '[1/3] FROM busybox', at: Date.now() });
    r.emit({ type: 'vertex.started', id: 'b', name: '[2/3] RUN make', at: Date.now() });
    r.emit({ type: 'vertex.log', id: 'b', stream: 'stdout', data: 'compiling\n' });
    const live = r.frame(false);
    expect(live[0]).toMatch(/^\[\+\] Building \d+\.\ds \(1\/2\)$/);
    expect(live[1]).toMatch(/^ => CACHED \[1\/3\] FROM busybox\s+0\.0s$/);
    expect(live[2]).toMatch(/^ => \[2\/3\] RUN make\s+\d+\.\ds$/);
    expect(live[3]).toBe(' => => # compiling');
    expect(live.every((l) => l.length <= 79)).toBe(true);
    await new Promise((res) => setTimeout(res, 30)); // let the timer draw a live frame
    expect(out).toContain('compiling');
    r.emit({ type: 'vertex.done', id: 'b', name: '[2/3] RUN make', at: Date.now(), durationMs: 2500 });
    r.close();
    const final = r.frame(true);
    expect(final[0]).toMatch(/\(2\/2\) FINISHED$/);
    expect(final[2]).toMatch(/^ => \[2\/3\] RUN make\s+2\.5s$/);
    expect(final).toHaveLength(3); // logs of finished steps are folded away
    expect(out).toMatch(/\r\x1b\[\d+A/); // redrawn in place: cursor up over the previous frame
  });
});

describe('transfer progress', () => {
  it('plain prints bytes at most once a second per transfer, and always the last; tty shows them on the step line', async () => {
    const { byteProgress } = await import('../../../src/progress/bytes.js');
    const { TtyRenderer } = await import('../../../src/cli/render/tty.js');
    let out = '';
    const r = new PlainRenderer((s) => (out += s));
    r.emit({ type: 'vertex.started', id: 'p', name: 'pulling abc (3 MB)', at: Date.now() });
    const tick = byteProgress(r, 'p', 'pulling abc (3 MB)', 0);
    tick(1_000_000, 3_000_000);
    tick(2_000_000, 3_000_000); // within the same second: not printed
    tick(3_000_000, 3_000_000);
    expect(out.trimEnd().split('\n')).toEqual(['#1 pulling abc (3 MB)', '#1 1.00MB / 3.00MB', '#1 3.00MB / 3.00MB']);
    const t = new TtyRenderer(() => {}, () => 80, 1000);
    t.emit({ type: 'vertex.started', id: 'p', name: 'pulling abc', at: Date.now() });
    t.emit({ type: 'vertex.progress', id: 'p', name: 'pulling abc', current: 1_500_000, total: 3_000_000 });
    expect(t.frame(false)[1]).toMatch(/pulling abc\s+1\.50MB \/ 3\.00MB \d+\.\ds$/);
    t.close();
  });
});
