/**
 * `tsbuild save IMAGE… [-o FILE] [--format docker|oci]`: write images as a `docker load` archive
 * (default) or an OCI layout tarball; stdout when -o is not given. The file appears only when complete.
 */
import { UsageError } from '../errors.js';
import { findImage } from '../imagestore/lookup.js';
import { dockerArchiveEntries, ociArchiveEntries, type ArchiveImage } from '../imagestore/layout.js';
import { withOutputFile, writeTar } from '../imagestore/output-file.js';
import { setTempLeaseDir } from '../fsutil/temp-lease.js';
import { normalizeReference } from '../image/reference.js';
import { openStores } from './stores.js';
import { storeFetcher } from './registry-client.js';
import { parse } from './tag.js';

export async function saveCommand(argv: string[]): Promise<number> {
  const usage = 'save IMAGE [IMAGE...] [-o FILE] [--format docker|oci]';
  const { values, positionals } = parse(argv, usage, 'some', { output: { type: 'string', short: 'o' }, format: { type: 'string' } });
  const format = (values.format as string | undefined) ?? 'docker';
  if (format !== 'docker' && format !== 'oci') throw new UsageError(`invalid --format "${format}": expected docker or oci`);
  const dest = (values.output as string | undefined) ?? '-';
  if (dest === '-' && process.stdout.isTTY) throw new UsageError('refusing to write an archive to a terminal', { hint: 'use -o FILE or redirect stdout' });
  const { images, content, store } = openStores(values.root);
  setTempLeaseDir(store.leases); // a killed save's temp file is removed by the next build's recovery
  const byDigest = new Map<string, ArchiveImage>();
  for (const ref of positionals) {
    const f = await findImage(images, content, ref);
    const im = byDigest.get(f.manifestDesc.digest) ?? { manifest: f.manifestDesc, names: [] };
    byDigest.set(f.manifestDesc.digest, im);
    let asked: string | undefined;
    try {
      asked = normalizeReference(ref);
    } catch {
      asked = undefined;
    }
    const names = asked && f.records.some((r) => r.name === asked) ? [asked] : f.records.map((r) => r.name);
    for (const n of names) if (!im.names.includes(n)) im.names.push(n);
  }
  const list = [...byDigest.values()];
  // A layer of a base image a build resolved lazily (not downloaded yet) is fetched from its registry first.
  const fetcher = storeFetcher(store.root, content);
  for (const ref of positionals) {
    const f = await findImage(images, content, ref);
    for (const l of f.manifest.layers ?? []) await fetcher.ensure(l);
  }
  const entries = format === 'oci' ? await ociArchiveEntries(list, content) : await dockerArchiveEntries(list, content);
  await withOutputFile(dest, format === 'oci' ? 'OCI archive' : 'Docker archive', (out) => writeTar(out, entries));
  return 0;
}
