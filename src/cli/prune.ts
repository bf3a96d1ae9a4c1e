/**
 * `tsbuild prune`: free build cache. No option: only what nothing references (stale records, snapshots no
 * record needs, blobs neither a tagged image nor a record references). `--all`: every cache record too.
 * `--keep-storage SIZE`: least recently used records until the cache is at most SIZE. `--filter
 * until=DURATION`: records not used for DURATION. `--all` also drops the RUN cache mounts and the build history (`until=`: older builds' history). Tagged images and what they reference always stay.
 */
import { binarySize } from '../units/bytes.js';
import { parseArgs } from 'node:util';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { StoreError, UsageError } from '../errors.js';
import { parseDuration, parseSize, prune, type PruneOptions } from '../cache/gc.js';
import { metadataDirs, openStores } from './cache-stores.js';
import { otherLiveBuilds } from './live-builds.js';
import { storeRoot } from './store-root.js';
import { pruneHistory } from './history/store.js';

const USAGE = 'usage: tsbuild prune [--all] [--keep-storage SIZE] [--filter until=DURATION] [--root DIR]';

export async function pruneCommand(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        root: { type: 'string' },
        all: { type: 'boolean', short: 'a' },
        'keep-storage': { type: 'string' },
        filter: { type: 'string', multiple: true },
        json: { type: 'boolean' },
      },
      strict: true,
    }));
  } catch (err) {
    throw new UsageError((err as Error).message, { hint: USAGE });
  }
  const opts: PruneOptions = {};
  if (values.all) opts.all = true;
  if (values['keep-storage'] !== undefined) {
    const n = parseSize(values['keep-storage']);
    if (n === undefined) throw new UsageError(`invalid --keep-storage "${values['keep-storage']}": expected a size such as 512MB or 10GB`);
    opts.keepStorage = n;
  }
  for (const f of values.filter ?? []) {
    const m = /^until=(.*)$/.exec(f);
    const ms = m ? parseDuration(m[1]!) : undefined;
    if (ms === undefined) throw new UsageError(`invalid --filter "${f}": supported is until=DURATION (e.g. until=24h)`);
    opts.unusedForMs = ms;
  }
  const stores = openStores(storeRoot(values.root));
  const live = otherLiveBuilds(stores.layout.state);
  if (live.length > 0) {
    throw new StoreError('STORE_BUSY', `cannot prune while builds are running on this store (pids ${live.join(', ')})`, {
      hint: 'wait for them to finish and run tsbuild prune again',
    });
  }
  const r = await prune(stores, { ...opts, metadataDirs: metadataDirs(stores.layout) });
  // RUN --mount=type=cache directories (<store>/cachemounts) go with --all.
  if (values.all) await rm(join(storeRoot(values.root), 'cachemounts'), { recursive: true, force: true });
  // Build history goes with the cache: all of it with --all, the builds older than until= with --filter.
  if (values.all || opts.unusedForMs !== undefined) {
    await pruneHistory(storeRoot(values.root), { ...(values.all ? { all: true } : {}), ...(opts.unusedForMs !== undefined ? { olderThanMs: opts.unusedForMs } : {}) });
  }
  if (values.json) process.stdout.write(JSON.stringify(r) + '\n');
  else process.stdout.write(`Removed ${r.records} cache records, ${r.snapshots} snapshots, ${r.blobs} blobs\nTotal reclaimed space: ${binarySize(r.freed)}\n`);
  return 0;
}
