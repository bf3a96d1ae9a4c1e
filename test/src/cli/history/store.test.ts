import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findRecord, historyDir, listRecords, pruneHistory, saveRecord, type BuildRecord } from '../../../../src/cli/history/store.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const root = () => {
  const d = mkdtempSync(join(tmpdir(), 'tsbuild-history-'));
  dirs.push(d);
  return d;
};

const rec = (id: string, startedAt: number): BuildRecord => ({
  format: 1,
  id,
  startedAt: new Date(startedAt).toISOString(),
  context: '/ctx',
  dockerfile: 'Dockerfile',
  tags: [],
  result: 'ok',
  steps: [],
  run: { startedAt, wallMs: 1, steps: [] },
});

describe('build history store', () => {
  it('keeps the newest `keep` records, lists newest first, skips unreadable files', async () => {
    const r = root();
    for (let i = 0; i < 5; i++) await saveRecord(r, rec(`00000000000${i}`, 1_700_000_000_000 + i * 1000), 3);
    writeFileSync(join(historyDir(r), '9999999999999-ffffffffffff.json'), '{broken');
    const list = await listRecords(r);
    expect(list.map((x) => x.id)).toEqual(['000000000004', '000000000003', '000000000002']);
    expect(readdirSync(historyDir(r)).filter((n) => !n.startsWith('.'))).toHaveLength(4);
  });

  it('finds a record by id or unique prefix; says why when it cannot', async () => {
    const r = root();
    await saveRecord(r, rec('abc000000001', 1_700_000_000_000));
    await saveRecord(r, rec('abc000000002', 1_700_000_001_000));
    await saveRecord(r, rec('def000000003', 1_700_000_002_000));
    expect((await findRecord(r, 'def')).id).toBe('def000000003');
    expect((await findRecord(r, 'abc000000002')).id).toBe('abc000000002');
    await expect(findRecord(r, 'abc')).rejects.toThrow(/ambiguous/);
    await expect(findRecord(r, '123')).rejects.toThrow(/no build "123" in the history/);
  });

  it('prunes all records, or those older than a duration', async () => {
    const r = root();
    const now = Date.now();
    await saveRecord(r, rec('000000000001', now - 3 * 3600_000));
    await saveRecord(r, rec('000000000002', now - 60_000));
    expect(await pruneHistory(r, { olderThanMs: 3600_000 })).toBe(1);
    expect((await listRecords(r)).map((x) => x.id)).toEqual(['000000000002']);
    expect(await pruneHistory(r, { all: true })).toBe(1);
    expect(await listRecords(r)).toEqual([]);
  });
});
