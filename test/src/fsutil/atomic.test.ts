import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeDeadTempFiles, writeFileAtomic } from '../../../src/fsutil/atomic.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'atomic-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('atomic writes', () => {
  it('writeFileAtomic leaves only the file, with its content', async () => {
    await writeFileAtomic(join(dir, 'sub', 'a.json'), '{"a":1}', { mkdir: true });
    expect(await readdir(join(dir, 'sub'))).toEqual(['a.json']);
    expect(await readFile(join(dir, 'sub', 'a.json'), 'utf8')).toBe('{"a":1}');
  });

  it('removeDeadTempFiles removes only temp files of dead writers, in the dirs given', async () => {
    const names = {
      dead: '.abc.files.json.tmp-999991-0a1b2c3d4e5f',
      live: `.abc.json.tmp-${process.pid}-0a1b2c3d4e5f`,
      file: 'abc.json',
      lookalike: '.abc.json.tmp-x-0a1b',
    };
    for (const sub of ['records', 'steps', 'other']) {
      await mkdir(join(dir, sub));
      for (const n of Object.values(names)) await writeFile(join(dir, sub, n), '{}');
    }
    const alive = (pid: number) => pid === process.pid;
    expect(await removeDeadTempFiles([join(dir, 'records'), join(dir, 'steps'), join(dir, 'missing')], alive)).toBe(2);
    const kept = [names.live, names.file, names.lookalike].sort();
    for (const sub of ['records', 'steps']) expect((await readdir(join(dir, sub))).sort()).toEqual(kept);
    expect((await readdir(join(dir, 'other'))).sort()).toEqual(Object.values(names).sort());
  });
});
