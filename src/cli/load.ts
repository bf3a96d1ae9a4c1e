/** `tsbuild load [-i FILE] [-t NAME]`: import a `docker save` or OCI layout tarball (stdin without -i). */
import { createReadStream } from 'node:fs';
import { TsbuildError } from '../errors.js';
import { familiarName } from '../image/reference.js';
import { loadArchive } from '../imagestore/load.js';
import { openStores } from './stores.js';
import { parse } from './tag.js';

export async function loadCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, 'load [-i FILE] [-t NAME]', 0, { input: { type: 'string', short: 'i' }, tag: { type: 'string', short: 't', multiple: true }, quiet: { type: 'boolean', short: 'q' } });
  const file = values.input as string | undefined;
  const { images, content } = openStores(values.root);
  const input = file && file !== '-' ? createReadStream(file) : process.stdin;
  if (input === process.stdin && process.stdin.isTTY) throw new TsbuildError('USAGE', 'no archive given: use -i FILE or pipe one to stdin');
  const loaded = await loadArchive(input, content, images, { tags: (values.tag as string[] | undefined) ?? [] }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT' || err.code === 'EACCES' || err.code === 'EISDIR') throw new TsbuildError('LOAD_FAILED', `cannot read ${file}: ${err.message}`);
    const cause = (err as { cause?: NodeJS.ErrnoException }).cause;
    if (cause && (cause.code === 'ENOENT' || cause.code === 'EACCES' || cause.code === 'EISDIR')) throw new TsbuildError('LOAD_FAILED', `cannot read ${file}: ${cause.message}`);
    throw err;
  });
  for (const im of loaded) {
    if (im.names.length === 0) process.stdout.write(`Loaded image ID: ${im.configDigest} (no name: add one with \`tsbuild tag ${im.manifest.digest} NAME\`)\n`);
    for (const n of im.names) process.stdout.write(`Loaded image: ${familiarName(n)}\n`);
  }
  return 0;
}
