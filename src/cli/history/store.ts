/**
 * Build history: a compact summary of each build, one JSON file per build under `<store>/history/`
 * (`<startedAt ms, 13 digits>-<id>.json`, so names sort by time). At most KEEP are kept (the oldest go when a
 * build adds one); `tsbuild prune` removes them with the cache (`--all`: every one; `--filter until=`: the
 * older ones). Writing is best effort (a diagnostic never fails a build) and atomic; an unreadable file is
 * skipped when listing (written without fsync: see saveRecord). A build answered by the rebuild memo (src/cli/replay.ts) is not recorded: it runs
 * no step, and its replay must stay as cheap as process start-up.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempPathFor } from '../../fsutil/atomic.js';
import { UsageError } from '../../errors.js';
import type { BuildRun, StepInfo } from '../report/model.js';

export const HISTORY_FORMAT = 1;
export const HISTORY_KEEP = 50;

export interface BuildRecord {
  format: typeof HISTORY_FORMAT;
  /** 12 hex digits; `tsbuild history inspect` takes it or any unique prefix. */
  id: string;
  /** ISO 8601. */
  startedAt: string;
  context: string;
  dockerfile: string;
  target?: string;
  tags: string[];
  result: 'ok' | 'failed';
  /** The error, one line (failed builds). */
  error?: string;
  steps: StepInfo[];
  run: BuildRun;
}

export const historyDir = (root: string) => join(root, 'history');

export function newRecordId(): string {
  return randomBytes(6).toString('hex');
}

const fileName = (rec: Pick<BuildRecord, 'id' | 'run'>) => `${String(rec.run.startedAt).padStart(13, '0')}-${rec.id}.json`;
const NAME = /^(\d{13})-([0-9a-f]{12})\.json$/;

/**
 * Write one record and drop the oldest beyond `keep`. Temp file + rename, but no fsync: a record is a
 * diagnostic, and an fsync costs every build ~20 ms here (median; 120 ms p90 on a busy disk). After a power
 * loss a record may be empty or missing; listRecords skips it.
 */
export async function saveRecord(root: string, rec: BuildRecord, keep = HISTORY_KEEP): Promise<void> {
  const dir = historyDir(root);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const path = join(dir, fileName(rec));
  const tmp = tempPathFor(path);
  try {
    await writeFile(tmp, JSON.stringify(rec) + '\n', { mode: 0o600 });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  const names = (await readdir(dir)).filter((n) => NAME.test(n)).sort();
  await Promise.all(names.slice(0, Math.max(0, names.length - keep)).map((n) => rm(join(dir, n), { force: true })));
}

/** Records, newest first. */
export async function listRecords(root: string): Promise<BuildRecord[]> {
  const names = (await readdir(historyDir(root)).catch(() => [] as string[])).filter((n) => NAME.test(n)).sort().reverse();
  const out: BuildRecord[] = [];
  for (const n of names) {
    const rec = await readRecordFile(join(historyDir(root), n));
    if (rec) out.push(rec);
  }
  return out;
}

async function readRecordFile(path: string): Promise<BuildRecord | undefined> {
  try {
    const rec = JSON.parse(await readFile(path, 'utf8')) as BuildRecord;
    return rec.format === HISTORY_FORMAT && Array.isArray(rec.steps) && rec.run && Array.isArray(rec.run.steps) ? rec : undefined;
  } catch {
    return undefined;
  }
}

/** The record named by `id` (or a unique prefix of it); a usage error naming the cause otherwise. */
export async function findRecord(root: string, id: string): Promise<BuildRecord> {
  const names = (await readdir(historyDir(root)).catch(() => [] as string[])).filter((n) => NAME.test(n));
  const hits = names.filter((n) => NAME.exec(n)![2]!.startsWith(id.toLowerCase()));
  if (id === '' || hits.length === 0) throw new UsageError(`no build "${id}" in the history`, { hint: 'tsbuild history lists the recorded builds' });
  if (hits.length > 1) throw new UsageError(`build id "${id}" is ambiguous: ${hits.length} builds start with it`, { hint: 'give more of the id' });
  const rec = await readRecordFile(join(historyDir(root), hits[0]!));
  if (!rec) throw new UsageError(`build "${id}": its history record is unreadable`);
  return rec;
}

/** Remove records: all of them, or those of builds started more than `olderThanMs` ago. Returns how many. */
export async function pruneHistory(root: string, opts: { all?: boolean; olderThanMs?: number }): Promise<number> {
  const dir = historyDir(root);
  const names = (await readdir(dir).catch(() => [] as string[])).filter((n) => NAME.test(n));
  const cutoff = opts.olderThanMs !== undefined ? Date.now() - opts.olderThanMs : undefined;
  const gone = names.filter((n) => opts.all || (cutoff !== undefined && Number(NAME.exec(n)![1]) < cutoff));
  await Promise.all(gone.map((n) => rm(join(dir, n), { force: true })));
  return gone.length;
}
