/**
 * The automatic cache cap's throttle (src/cli/auto-gc.ts): a cache found at most half its cap is measured again
 * only after CHECK_EVERY_MS; a changed cap, a cache nearer its cap, or an unreadable record are measured at once.
 * "Measured" is seen in `<cache>/cap-check.json` (its `at` is the time of the last measurement). A store a build
 * creates counts as measured empty at its creation (noteNewStore), so its first build does not measure it.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { CHECK_EVERY_MS, enforceCacheCap, noteNewStore } from '../../../src/cli/auto-gc.js';

let root: string;
const saved = process.env.TSBUILD_CACHE_MAX;
const GiB = 1024 ** 3;

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'tsb-autogc-'));
});
afterAll(() => {
  if (saved === undefined) delete process.env.TSBUILD_CACHE_MAX;
  else process.env.TSBUILD_CACHE_MAX = saved;
  rmSync(root, { recursive: true, force: true });
});

const file = () => join(root, 'cache', 'cap-check.json');
const checked = () => JSON.parse(readFileSync(file(), 'utf8')) as { at: number; size: number; cap: number };

it('measures a cache under half its cap at most once per CHECK_EVERY_MS, and at once when the cap changes or the cache is nearer it', async () => {
  const t = 1_800_000_000_000;
  process.env.TSBUILD_CACHE_MAX = '1GB';
  expect(await enforceCacheCap(root, new Set(), undefined, t)).toBeUndefined();
  expect(checked()).toEqual({ at: t, size: 0, cap: GiB });
  await enforceCacheCap(root, new Set(), undefined, t + CHECK_EVERY_MS - 1);
  expect(checked().at).toBe(t); // not measured again
  await enforceCacheCap(root, new Set(), undefined, t + CHECK_EVERY_MS);
  expect(checked().at).toBe(t + CHECK_EVERY_MS);
  process.env.TSBUILD_CACHE_MAX = '2GB';
  await enforceCacheCap(root, new Set(), undefined, t + CHECK_EVERY_MS + 1);
  expect(checked()).toEqual({ at: t + CHECK_EVERY_MS + 1, size: 0, cap: 2 * GiB });
  // a cache found above half its cap is measured after every build
  writeFileSync(file(), JSON.stringify({ at: t + CHECK_EVERY_MS + 1, size: GiB + 1, cap: 2 * GiB }));
  await enforceCacheCap(root, new Set(), undefined, t + CHECK_EVERY_MS + 2);
  expect(checked().at).toBe(t + CHECK_EVERY_MS + 2);
  // a clock that went back, or a file that is not ours, is not trusted
  await enforceCacheCap(root, new Set(), undefined, t);
  expect(checked().at).toBe(t);
  writeFileSync(file(), '{"at": "soon"}');
  await enforceCacheCap(root, new Set(), undefined, t + 1);
  expect(checked().at).toBe(t + 1);
});

it('a new store counts as measured empty: the builds of the next CHECK_EVERY_MS do not measure it', async () => {
  const fresh = mkdtempSync(join(tmpdir(), 'tsb-autogc-new-'));
  try {
    const t = 1_900_000_000_000;
    const capFile = join(fresh, 'cache', 'cap-check.json');
    process.env.TSBUILD_CACHE_MAX = '1GB';
    await noteNewStore(fresh, t);
    expect(JSON.parse(readFileSync(capFile, 'utf8'))).toEqual({ at: t, size: 0, cap: GiB });
    // the end of the first build (anything in the store is its own, kept): not measured
    expect(await enforceCacheCap(fresh, new Set(), undefined, t + 1000)).toBeUndefined();
    expect(JSON.parse(readFileSync(capFile, 'utf8')).at).toBe(t);
    await enforceCacheCap(fresh, new Set(), undefined, t + CHECK_EVERY_MS);
    expect(JSON.parse(readFileSync(capFile, 'utf8')).at).toBe(t + CHECK_EVERY_MS);
    // no cap (off) or an invalid one: nothing noted (an invalid cap is reported by enforceCacheCap)
    rmSync(capFile);
    process.env.TSBUILD_CACHE_MAX = 'off';
    await noteNewStore(fresh, t);
    expect(() => readFileSync(capFile)).toThrow();
  } finally {
    rmSync(fresh, { recursive: true, force: true });
  }
});
