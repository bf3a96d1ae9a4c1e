/** `tsbuild doctor [--fix]`: verify every blob digest, cache record, snapshot and tag of the store. */
import { parseArgs } from 'node:util';
import { UsageError } from '../errors.js';
import { join } from 'node:path';
import { doctor } from '../cache/doctor.js';
import { BlobSources } from '../registry/sources.js';
import { openStores } from './cache-stores.js';
import { otherLiveBuilds } from './live-builds.js';
import { storeRoot } from './store-root.js';

export async function doctorCommand(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: { root: { type: 'string' }, fix: { type: 'boolean' }, json: { type: 'boolean' } }, strict: true }));
  } catch (err) {
    throw new UsageError((err as Error).message, { hint: 'usage: tsbuild doctor [--fix] [--root DIR]' });
  }
  const stores = openStores(storeRoot(values.root));
  if (values.fix && otherLiveBuilds(stores.layout.state).length > 0) throw new UsageError('cannot repair the store while builds are running on it');
  // A layer absent from the store that a registry is known to have is lazy (a base image resolved without its layers), not missing.
  const sources = new BlobSources(join(stores.layout.root, 'registry', 'sources'));
  const r = await doctor(stores, { fix: values.fix ?? false, fetchable: async (d) => (await sources.get(d)).length > 0 });
  if (values.json) {
    process.stdout.write(JSON.stringify(r, null, 2) + '\n');
  } else {
    const lines = [`checked ${r.blobs} blobs, ${r.records} cache records, ${r.snapshots} snapshots, ${r.images} images`];
    for (const p of r.problems) lines.push(`${p.fixed ? 'FIXED' : 'PROBLEM'} ${p.kind} ${p.id}: ${p.message}`);
    lines.push(r.problems.length === 0 ? 'store OK' : `${r.problems.length} problem(s)${values.fix ? '' : ' (tsbuild doctor --fix removes what is broken)'}`);
    process.stdout.write(lines.join('\n') + '\n');
  }
  return r.problems.some((p) => !p.fixed) ? 1 : 0;
}
