/** `tsbuild du`: the build cache's disk use, per record (shared vs private) and in total, metadata included. */
import { parseArgs } from 'node:util';
import { UsageError } from '../errors.js';
import { usage } from '../cache/gc.js';
import { binarySize } from '../units/bytes.js';
import { metadataDirs, openStores } from './cache-stores.js';
import { storeRoot } from './store-root.js';

export async function duCommand(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: { root: { type: 'string' }, json: { type: 'boolean' }, verbose: { type: 'boolean', short: 'v' } }, strict: true }));
  } catch (err) {
    throw new UsageError((err as Error).message, { hint: 'usage: tsbuild du [--root DIR] [--json] [--verbose]' });
  }
  const stores = openStores(storeRoot(values.root));
  const u = await usage(stores, metadataDirs(stores.layout));
  const orphans = u.orphanBlobs.reduce((a, b) => a + b.size, 0) + u.orphanSnapshots.reduce((a, s) => a + s.size, 0);
  const reclaimable = u.records.reduce((a, r) => a + r.reclaimable, 0) + orphans;
  if (values.json) {
    const records = u.records.map((r) => ({
      key: r.record.key,
      step: r.record.name ?? null,
      snapshotSize: r.snapshotSize,
      layerSize: r.layerSize,
      shared: r.layerShared,
      reclaimable: r.reclaimable,
      lastUsed: r.lastUsed.toISOString(),
      created: r.record.created,
    }));
    const { orphanBlobs, orphanSnapshots, records: _r, ...totals } = u;
    process.stdout.write(JSON.stringify({ records, ...totals, unreferenced: orphans, reclaimable }, null, 2) + '\n');
    return 0;
  }
  const rows = [['KEY', 'SIZE', 'LAYER', 'SHARED', 'RECLAIMABLE', 'LAST USED', 'STEP']];
  const sorted = [...u.records].sort((a, b) => b.lastUsed.getTime() - a.lastUsed.getTime());
  for (const r of values.verbose ? sorted : sorted.slice(0, 30)) {
    rows.push([
      r.record.key.slice(7, 19),
      binarySize(r.snapshotSize),
      r.layerSize ? binarySize(r.layerSize) : '-',
      r.layerShared ? 'yes' : 'no',
      binarySize(r.reclaimable),
      r.lastUsed.toISOString().replace('T', ' ').slice(0, 19),
      (r.record.name ?? '').slice(0, 60),
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const out = rows.map((row) => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd());
  if (!values.verbose && sorted.length > 30) out.push(`… ${sorted.length - 30} more (--verbose lists all)`);
  out.push(
    '',
    `Records:                         ${u.records.length}`,
    `Snapshots (records + bases):     ${binarySize(u.snapshots)}`,
    `Layer blobs only the cache uses: ${binarySize(u.cacheBlobs)}`,
    `Unreferenced (tsbuild prune):    ${binarySize(orphans)}`,
    `Metadata:                        ${binarySize(u.metadata)}`,
    `Total:                           ${binarySize(u.total)}`,
    `Reclaimable:                     ${binarySize(reclaimable)}`,
    `Shared with tagged images (not counted above): ${binarySize(u.imageBlobs)}`,
  );
  process.stdout.write(out.join('\n') + '\n');
  return 0;
}
