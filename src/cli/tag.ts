/** `tsbuild tag SOURCE TARGET`: give an image in the store another name. */
import { parseArgs } from 'node:util';
import { UsageError } from '../errors.js';
import { normalizeReference } from '../image/reference.js';
import { openStores } from './stores.js';
import { findImage } from '../imagestore/lookup.js';

export async function tagCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, 'tag SOURCE_IMAGE TARGET_IMAGE', 2);
  const { images, content } = openStores(values.root);
  const src = await findImage(images, content, positionals[0]!);
  let target: string;
  try {
    target = normalizeReference(positionals[1]!);
  } catch (err) {
    throw new UsageError(`invalid target name "${positionals[1]}": ${(err as Error).message}`);
  }
  if (target.includes('@')) throw new UsageError(`cannot tag with a digest: ${positionals[1]}`);
  await images.put(target, src.manifestDesc);
  return 0;
}

export function parse(argv: string[], usage: string, count: number | 'some', extra: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {}) {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, strict: true, options: { root: { type: 'string' }, ...extra } });
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, ''), { hint: `usage: tsbuild ${usage}` });
  }
  const n = parsed.positionals.length;
  if (count === 'some' ? n === 0 : n !== count) {
    throw new UsageError(`"tsbuild ${usage.split(' ')[0]}" requires ${count === 'some' ? 'at least 1 argument' : `exactly ${count} argument${count === 1 ? '' : 's'}`}`, { hint: `usage: tsbuild ${usage}` });
  }
  return parsed as { values: Record<string, string | boolean | string[] | undefined> & { root?: string }; positionals: string[] };
}
