import { describe, expect, it } from 'vitest';
import { Diagnostics } from '../../src/diagnostics.js';

describe('Diagnostics.bestEffort', () => {
  it('returns the result, or undefined after warning once per name; the stack only in debug mode', async () => {
    const warned: string[] = [];
    const d = new Diagnostics((m) => warned.push(m), false);
    expect(await d.bestEffort('memo', () => 7)).toBe(7);
    expect(await d.bestEffort('memo', () => Promise.reject(new Error('disk full')))).toBeUndefined();
    expect(d.bestEffortSync('memo', () => {
      throw new Error('again');
    })).toBeUndefined();
    expect(await d.bestEffort('checks', () => {
      throw new Error('rule broke');
    })).toBeUndefined();
    expect(warned).toEqual([
      'internal error in memo, ignored (the build result is not affected): disk full (set TSBUILD_DEBUG=1 for details)',
      'internal error in checks, ignored (the build result is not affected): rule broke (set TSBUILD_DEBUG=1 for details)',
    ]);
    const debug: string[] = [];
    await new Diagnostics((m) => debug.push(m), true).bestEffort('x', () => {
      throw new Error('boom');
    });
    expect(debug[0]).toMatch(/boom\nError: boom\n\s+at /);
  });

  it('a sink that throws is ignored', async () => {
    const d = new Diagnostics(() => {
      throw new Error('renderer broke');
    });
    expect(await d.bestEffort('x', () => Promise.reject(new Error('y')))).toBeUndefined();
  });

  it('reads TSBUILD_DEBUG=1 by default', async () => {
    const old = process.env.TSBUILD_DEBUG;
    process.env.TSBUILD_DEBUG = '1';
    try {
      const out: string[] = [];
      await new Diagnostics((m) => out.push(m)).bestEffort('x', () => {
        throw new Error('z');
      });
      expect(out[0]).toContain('\nError: z\n');
    } finally {
      if (old === undefined) delete process.env.TSBUILD_DEBUG;
      else process.env.TSBUILD_DEBUG = old;
    }
  });
});
