/** `tsbuild images`: list the local image store's tags with digest and size. */
import { decimalSize } from '../units/bytes.js';
import { parseArgs } from 'node:util';
import { UsageError } from '../errors.js';
import { storeRoot, storeLayout } from './store-root.js';
import { LocalImageStore } from '../imagestore/store.js';
import { LocalContentStore } from '../content/store.js';
import { familiarName } from '../image/reference.js';
import type { Manifest } from '../image/types.js';

export async function imagesCommand(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: { root: { type: 'string' }, quiet: { type: 'boolean', short: 'q' }, 'no-trunc': { type: 'boolean' } }, strict: true }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const store = storeLayout(storeRoot(values.root));
  const images = new LocalImageStore(store.images);
  const content = new LocalContentStore(store.content);
  const rows: string[][] = [['REPOSITORY', 'TAG', 'DIGEST', 'CREATED', 'SIZE']];
  for (const rec of await images.list()) {
    let size = rec.target.size;
    let created = '';
    try {
      const m = JSON.parse((await content.read(rec.target.digest)).toString()) as Manifest;
      size = m.config.size + m.layers.reduce((a, l) => a + l.size, 0);
      created = (JSON.parse((await content.read(m.config.digest)).toString()) as { created?: string }).created ?? '';
    } catch {
      /* manifest missing: show the record anyway */
    }
    const fam = familiarName(rec.name);
    const at = fam.lastIndexOf(':');
    const slash = fam.lastIndexOf('/');
    const [repo, tag] = at > slash ? [fam.slice(0, at), fam.slice(at + 1)] : [fam, '<none>'];
    const digest = values['no-trunc'] ? rec.target.digest : rec.target.digest.slice(0, 'sha256:'.length + 12);
    if (values.quiet) rows.push([rec.target.digest]);
    else rows.push([repo, tag, digest, created ? timeAgo(created) : '', decimalSize(size)]);
  }
  if (values.quiet) {
    process.stdout.write(rows.slice(1).map((r) => r[0]).join('\n') + (rows.length > 1 ? '\n' : ''));
    return 0;
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  process.stdout.write(rows.map((r) => r.map((c, i) => c.padEnd(widths[i]! + 3)).join('').trimEnd()).join('\n') + '\n');
  return 0;
}


/** Docker's "2 hours ago" style. */
export function timeAgo(iso: string, now = Date.now()): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '';
  const s = Math.max(0, Math.round((now - t) / 1000));
  const units: [number, string][] = [[365 * 86400, 'year'], [30 * 86400, 'month'], [7 * 86400, 'week'], [86400, 'day'], [3600, 'hour'], [60, 'minute']];
  if (s < 60) return s < 1 ? 'Less than a second ago' : `${s} second${s === 1 ? '' : 's'} ago`;
  for (const [n, name] of units) {
    if (s >= n) {
      const k = Math.floor(s / n);
      return `${k} ${name}${k === 1 ? '' : 's'} ago`;
    }
  }
  return '';
}
