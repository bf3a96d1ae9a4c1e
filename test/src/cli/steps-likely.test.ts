/** When the full path expects a step to run (src/cli/steps-likely.ts): a new store, or a command whose rebuild memo exists. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { stepsLikely } from '../../../src/cli/steps-likely.js';

it('a new store or an existing memo of the command: likely; otherwise (export, push, no memo yet): not assumed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsb-steps-likely-'));
  try {
    const memo = join(dir, 'memo.json');
    expect(stepsLikely({ newStore: true, memoFile: undefined })).toBe(true);
    expect(stepsLikely({ newStore: false, memoFile: undefined })).toBe(false); // not memo-eligible (an export, a push)
    expect(stepsLikely({ newStore: false, memoFile: memo })).toBe(false); // never built: the cache may hold it all
    writeFileSync(memo, '{}');
    expect(stepsLikely({ newStore: false, memoFile: memo })).toBe(true); // the replay ran and found a change
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
