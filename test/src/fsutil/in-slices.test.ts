import { describe, expect, it } from 'vitest';
import { inSlices } from '../../../src/fsutil/in-slices.js';

describe('inSlices', () => {
  it('yields fn of every item in order, letting the event loop turn between slices', async () => {
    const items = Array.from({ length: 10 }, (_, i) => i);
    const seen: string[] = [];
    setImmediate(() => seen.push('immediate'));
    for await (const x of inSlices(items, (i) => i * 2, 4)) seen.push(String(x));
    // The first slice runs without a turn of the loop; the immediate gets in before the second.
    expect(seen).toEqual(['0', '2', '4', '6', 'immediate', '8', '10', '12', '14', '16', '18']);
  });

  it('a throw in fn reaches the consumer at its item; nothing after it runs', async () => {
    const calls: number[] = [];
    const got: number[] = [];
    await expect(
      (async () => {
        for await (const x of inSlices([1, 2, 3, 4], (i) => {
          calls.push(i);
          if (i === 3) throw new Error('boom');
          return i;
        })) got.push(x);
      })(),
    ).rejects.toThrow('boom');
    expect(got).toEqual([1, 2]);
    expect(calls).toEqual([1, 2, 3]);
  });

  it('an empty list yields nothing', async () => {
    const out = [];
    for await (const x of inSlices([], (i) => i)) out.push(x);
    expect(out).toEqual([]);
  });
});
