/** `tsbuild push NAME [NAME...]`: push images of the local store to their registries. */
import { parseArgs } from 'node:util';
import { NotFoundError, UsageError } from '../errors.js';
import { normalizeReference } from '../image/reference.js';
import { LocalContentStore } from '../content/store.js';
import { manifestForExport } from '../diff/variants.js';
import { LocalImageStore } from '../imagestore/store.js';
import { storeLayout, storeRoot } from './store-root.js';
import { makeRegistryClient, storeFetcher } from './registry-client.js';
import { selectRenderer } from './render/select.js';

export async function pushCommand(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { root: { type: 'string' }, 'insecure-registry': { type: 'string', multiple: true }, progress: { type: 'string' }, quiet: { type: 'boolean', short: 'q' } },
    });
  } catch (err) {
    throw new UsageError((err as Error).message, { hint: 'usage: tsbuild push [--root DIR] [--insecure-registry HOST:PORT] NAME[:TAG]...' });
  }
  const { values, positionals } = parsed;
  if (positionals.length === 0) throw new UsageError('"tsbuild push" requires at least 1 argument: the image name', { hint: 'usage: tsbuild push NAME[:TAG]' });
  const store = storeLayout(storeRoot(values.root));
  const content = new LocalContentStore(store.content);
  const images = new LocalImageStore(store.images);
  const mode = values.quiet ? 'quiet' : ((values.progress ?? 'auto') as 'auto' | 'plain' | 'tty' | 'quiet');
  const progress = selectRenderer(mode);
  const client = makeRegistryClient(store.root, { insecure: values['insecure-registry'] ?? [], progress });
  const fetcher = storeFetcher(store.root, content, { insecure: values['insecure-registry'] ?? [], progress });
  try {
    for (const ref of positionals) {
      const name = normalizeReference(ref);
      const rec = await images.get(name);
      if (!rec) throw new NotFoundError('IMAGE_NOT_FOUND', `${name} is not in the local image store`, { hint: '`tsbuild images` lists what the store has' });
      // layers the store keeps uncompressed are pushed gzip-compressed (made once, memoized)
      const target = await manifestForExport(content, rec.target);
      // A layer of a base image a build resolved lazily is mounted when it can be, else fetched before its upload.
      const s = await client.push([name], target, { content, ensureBlob: (d) => fetcher.ensure(d) });
      progress.emit({ type: 'info', message: `pushed ${name}@${target.digest} (${s.uploaded} uploaded, ${s.mounted} mounted, ${s.skipped} already there)` });
    }
  } finally {
    progress.close();
  }
  return 0;
}
