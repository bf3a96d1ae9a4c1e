import { describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { recoverTempLeases, setTempLeaseDir, withTempLease } from '../../../src/fsutil/temp-lease.js';

describe('temp leases', () => {
  it('a lease exists while its temp path may exist, and is dropped when the work ends', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lease-'));
    const leases = join(dir, 'leases');
    setTempLeaseDir(leases);
    try {
      let during: string[] = [];
      await withTempLease(join(dir, '.out.tmp-1-abc'), async () => {
        during = readdirSync(leases);
      });
      expect(during).toHaveLength(1);
      expect(readdirSync(leases)).toEqual([]);
      await expect(withTempLease(join(dir, '.out.tmp-1-abc'), async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
      expect(readdirSync(leases)).toEqual([]);
    } finally {
      setTempLeaseDir(undefined);
    }
  });

  it('recovery removes what dead processes leased, keeps live ones, and never deletes a path that is not their temp name', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lease-'));
    const leases = join(dir, 'leases');
    mkdirSync(leases);
    const deadTmp = join(dir, '.out.tmp-111-a1b2c3');
    mkdirSync(join(deadTmp, 'deep'), { recursive: true });
    const liveTmp = join(dir, '.out.tmp-222-d4e5f6');
    writeFileSync(liveTmp, 'x');
    const victim = join(dir, 'precious');
    writeFileSync(victim, 'keep');
    const otherPid = join(dir, '.out.tmp-333-aaaaaa');
    writeFileSync(otherPid, 'x');
    writeFileSync(join(leases, '111-aa.json'), JSON.stringify({ pid: 111, path: deadTmp }));
    writeFileSync(join(leases, '222-bb.json'), JSON.stringify({ pid: 222, path: liveTmp }));
    writeFileSync(join(leases, '111-cc.json'), JSON.stringify({ pid: 111, path: victim }));
    writeFileSync(join(leases, '111-dd.json'), JSON.stringify({ pid: 111, path: otherPid }));
    writeFileSync(join(leases, '111-ee.json'), '{not json');
    const dropped = await recoverTempLeases(leases, (pid) => pid === 222);
    expect(dropped).toBe(4);
    expect(existsSync(deadTmp)).toBe(false);
    expect(existsSync(liveTmp)).toBe(true);
    expect(existsSync(victim)).toBe(true);
    expect(existsSync(otherPid)).toBe(true);
    expect(readdirSync(leases)).toEqual(['222-bb.json']);
  });
});
