import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chmodSync, mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PathWitness, firstChanged, type WitnessRow } from '../../../src/context/witness.js';
import { selectSources } from '../../../src/context/select.js';
import { DockerIgnoreMatcher } from '../../../src/context/dockerignore.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'witness-'));
  mkdirSync(join(dir, 'src/lib'), { recursive: true });
  writeFileSync(join(dir, 'src/a.txt'), 'a');
  writeFileSync(join(dir, 'src/lib/b.txt'), 'b');
  writeFileSync(join(dir, 'src/skip.log'), 'ignored');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Witness rows of selecting `sources` from dir, observed as if `later` ms after the files were written. */
async function witnessed(sources: string[], exclude: string[] = [], later = 5_000): Promise<WitnessRow[]> {
  const w = new PathWitness();
  await selectSources({
    root: dir,
    sources,
    ...(exclude.length ? { exclude: new DockerIgnoreMatcher(exclude) } : {}),
    allowWildcard: true,
    followSymlinks: true,
    witness: w,
  });
  const r = w.result(Date.now() + later);
  if ('distrusted' in r) throw new Error(r.distrusted);
  return r.rows;
}

describe('context witness', () => {
  it('records the root, the directories on the way and every selected entry, but no excluded file', async () => {
    const rows = await witnessed(['src'], ['**/*.log']);
    const paths = rows.map((r) => r[0]);
    expect(paths).toEqual(expect.arrayContaining([dir, join(dir, 'src'), join(dir, 'src/a.txt'), join(dir, 'src/lib'), join(dir, 'src/lib/b.txt')]));
    expect(paths).not.toContain(join(dir, 'src/skip.log'));
    expect(firstChanged(rows)).toBeUndefined();
  });

  it('sees a content change, a mode change, an added file and a removed file', async () => {
    let rows = await witnessed(['src']);
    writeFileSync(join(dir, 'src/a.txt'), 'A');
    expect(firstChanged(rows)).toBe(join(dir, 'src/a.txt'));

    rows = await witnessed(['src']);
    chmodSync(join(dir, 'src/lib/b.txt'), 0o600);
    expect(firstChanged(rows)).toBe(join(dir, 'src/lib/b.txt'));

    rows = await witnessed(['src']);
    writeFileSync(join(dir, 'src/lib/new.txt'), 'new');
    expect(firstChanged(rows)).toBe(join(dir, 'src/lib'));

    rows = await witnessed(['src']);
    unlinkSync(join(dir, 'src/a.txt'));
    expect(firstChanged(rows)).toBe(join(dir, 'src'));
  });

  it('sees a file swapped in by rename with the same size', async () => {
    const rows = await witnessed(['src/a.txt']);
    writeFileSync(join(dir, 'src/other'), 'x');
    renameSync(join(dir, 'src/other'), join(dir, 'src/a.txt'));
    expect(firstChanged(rows)).toBe(join(dir, 'src'));
  });

  it('sees a missing source appear, and a wildcard directory gain a match', async () => {
    const w = new PathWitness();
    await expect(selectSources({ root: dir, sources: ['nope.txt'], allowWildcard: false, followSymlinks: true, witness: w })).rejects.toThrow(/not found/);
    const r = w.result(Date.now() + 5_000);
    if ('distrusted' in r) throw new Error(r.distrusted);
    writeFileSync(join(dir, 'nope.txt'), 'now here');
    expect(firstChanged(r.rows)).toBe(dir);

    const rows = await witnessed(['src/*.txt']);
    writeFileSync(join(dir, 'src/c.txt'), 'c');
    expect(firstChanged(rows)).toBe(join(dir, 'src'));
  });

  it('does not vouch for an entry changed less than a second ago', async () => {
    const w = new PathWitness();
    await selectSources({ root: dir, sources: ['src'], allowWildcard: false, followSymlinks: true, witness: w });
    expect(w.result()).toEqual({ distrusted: expect.stringMatching(/changed less than 1000 ms ago/) });
  });

  it('does not vouch for a source path that resolves through a symlink', async () => {
    symlinkSync('src', join(dir, 'link'));
    const w = new PathWitness();
    await selectSources({ root: dir, sources: ['link/a.txt'], allowWildcard: false, followSymlinks: true, witness: w });
    expect(w.result(Date.now() + 5_000)).toEqual({ distrusted: expect.stringMatching(/link\/a\.txt resolves through a symlink/) });
  });
});
