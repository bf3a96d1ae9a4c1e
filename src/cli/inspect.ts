/** `tsbuild inspect IMAGE…`: the names, manifest descriptor, manifest and config of each image, as JSON. */
import { findImage } from '../imagestore/lookup.js';
import { openStores } from './stores.js';
import { parse } from './tag.js';

export async function inspectCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, 'inspect IMAGE [IMAGE...]', 'some');
  const { images, content } = openStores(values.root);
  const out = [];
  for (const ref of positionals) {
    const f = await findImage(images, content, ref);
    out.push({
      Id: f.configDigest,
      Names: f.records.map((r) => r.name),
      Descriptor: f.manifestDesc,
      Manifest: f.manifest,
      Config: f.config,
    });
  }
  process.stdout.write(JSON.stringify(out, null, 2) + '\n');
  return 0;
}
