/**
 * `tsbuild rmi NAME…`: remove names from the store (Docker's "Untagged:"). Blobs stay in the content
 * store (they may be shared, and the build cache refers to them); only the name goes. An image given by
 * digest loses every name that points at it.
 */
import { NotFoundError } from '../errors.js';
import { familiarName, normalizeReference } from '../image/reference.js';
import { findImage } from '../imagestore/lookup.js';
import { openStores } from './stores.js';
import { parse } from './tag.js';

export async function rmiCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, 'rmi IMAGE [IMAGE...]', 'some');
  const { images, content } = openStores(values.root);
  let failed = 0;
  for (const ref of positionals) {
    try {
      let name: string | undefined;
      try {
        name = normalizeReference(ref);
      } catch {
        name = undefined;
      }
      if (name && (await images.get(name))) {
        await images.delete(name);
        process.stdout.write(`Untagged: ${familiarName(name)}\n`);
        continue;
      }
      const found = await findImage(images, content, ref);
      if (found.records.length === 0) throw new NotFoundError('IMAGE_NOT_FOUND', `no such image: ${ref}`);
      for (const r of found.records) {
        await images.delete(r.name);
        process.stdout.write(`Untagged: ${familiarName(r.name)}\n`);
      }
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
      process.stderr.write(`ERROR: ${err.message}\n`);
      failed++;
    }
  }
  return failed ? 1 : 0;
}
