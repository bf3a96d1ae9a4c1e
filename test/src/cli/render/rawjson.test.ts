import { describe, expect, it } from 'vitest';
import { RawJsonRenderer } from '../../../../src/cli/render/rawjson.js';
import { selectRenderer } from '../../../../src/cli/render/select.js';
import type { ProgressEvent } from '../../../../src/progress/types.js';

describe('--progress rawjson', () => {
  it('writes one JSON object per line per event, the event itself with v: 1', () => {
    let out = '';
    const r = new RawJsonRenderer((s) => (out += s));
    const events: ProgressEvent[] = [
      { type: 'vertex.started', id: 'a', name: '[1/2] RUN echo "x\ny"', at: 5, cacheMiss: ['--no-cache'] },
      { type: 'vertex.log', id: 'a', stream: 'stdout', data: 'line\nwith "quotes"\n' },
      { type: 'vertex.progress', id: 'b', name: 'pull', current: 10, total: 20 },
      { type: 'vertex.done', id: 'a', name: '[1/2] RUN echo "x\ny"', at: 9, durationMs: 4 },
      { type: 'warning', message: 'w' },
    ];
    for (const e of events) r.emit(e);
    const lines = out.split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.map((l) => JSON.parse(l))).toEqual(events.map((e) => ({ v: 1, ...e })));
  });

  it('is what selectRenderer returns for the rawjson mode, even on a terminal', () => {
    let out = '';
    const stream = { isTTY: true, columns: 80, write: (s: string) => ((out += s), true) } as unknown as NodeJS.WriteStream;
    const r = selectRenderer('rawjson', stream);
    r.emit({ type: 'info', message: 'hello' });
    r.close();
    expect(JSON.parse(out)).toEqual({ v: 1, type: 'info', message: 'hello' });
  });
});
