/**
 * Store verification (`tsbuild doctor`): every blob's digest and size, every cache record (readable, named
 * by its key, its snapshot committed, its layer blob present), every committed snapshot's parent and
 * directory, every tag's manifest, config and layers. `fix` removes what is broken (corrupt blobs, bad
 * records, snapshots whose directory or parent is gone together with the snapshots based on them, tags
 * whose content is gone) so the next build restores or rebuilds it instead of failing. A layer an image
 * names that is absent from the store (not corrupt) but `fetchable` (a registry is known to have it: a base
 * image resolved lazily, src/cli/resolve-image.ts) is not a problem: it is fetched when needed.
 */
import { parseDigest, type DigestAlgorithm } from '../content/digest.js';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Descriptor } from '../image/types.js';
import type { SnapshotInfo } from '../snapshot/types.js';
import type { CacheRecord } from './store.js';
import type { GcDeps } from './gc.js';

export interface Problem {
  kind: 'blob' | 'record' | 'snapshot' | 'image';
  id: string;
  message: string;
  fixed?: boolean;
}

export interface DoctorReport {
  blobs: number;
  records: number;
  snapshots: number;
  images: number;
  problems: Problem[];
}

async function hashFile(path: string, algorithm: DigestAlgorithm): Promise<{ digest: string; size: number }> {
  const h = createHash(algorithm);
  let size = 0;
  for await (const chunk of createReadStream(path)) {
    h.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { digest: `${algorithm}:${h.digest('hex')}`, size };
}

export async function doctor(deps: GcDeps, opts: { fix?: boolean; fetchable?: (digest: string) => Promise<boolean> } = {}): Promise<DoctorReport> {
  const report: DoctorReport = { blobs: 0, records: 0, snapshots: 0, images: 0, problems: [] };
  const problem = async (p: Problem, fix?: () => Promise<unknown>) => {
    if (opts.fix && fix) {
      await fix();
      p.fixed = true;
    }
    report.problems.push(p);
  };
  // Blobs.
  const good = new Set<string>();
  const listed = new Set<string>();
  for await (const b of deps.content.list()) {
    report.blobs++;
    listed.add(b.digest);
    const path = deps.content.path(b.digest);
    try {
      const got = await hashFile(path, parseDigest(b.digest).algorithm);
      if (got.digest !== b.digest) await problem({ kind: 'blob', id: b.digest, message: `content hashes to ${got.digest}` }, () => deps.content.delete(b.digest));
      else good.add(b.digest);
    } catch (err) {
      await problem({ kind: 'blob', id: b.digest, message: `unreadable: ${(err as Error).message}` }, () => deps.content.delete(b.digest));
    }
  }
  // Snapshots.
  const snaps = new Map<string, SnapshotInfo>();
  await deps.snapshotter.walk((info) => {
    snaps.set(info.key, info);
  });
  const children = new Map<string, string[]>();
  for (const info of snaps.values()) if (info.parent !== undefined) children.set(info.parent, [...(children.get(info.parent) ?? []), info.key]);
  // A broken snapshot is removed with every snapshot based on it (children first: the snapshotter refuses
  // to remove a parent); records naming them are then restored from their layer blob or removed below.
  const removeTree = async (key: string): Promise<void> => {
    if (!snaps.has(key)) return;
    for (const child of children.get(key) ?? []) await removeTree(child);
    await deps.snapshotter.remove(key);
    snaps.delete(key);
  };
  const based = (key: string) => {
    const n = (children.get(key) ?? []).length;
    return n ? ` (${n} snapshot(s) based on it${opts.fix ? ' removed with it' : ''})` : '';
  };
  for (const info of [...snaps.values()]) {
    if (info.kind !== 'committed' || !snaps.has(info.key)) continue;
    report.snapshots++;
    if (info.parent && !snaps.has(info.parent)) {
      await problem({ kind: 'snapshot', id: info.key, message: `parent ${info.parent} is missing${based(info.key)}` }, () => removeTree(info.key));
      continue;
    }
    const dir = await deps.snapshotter.layerDir(info.key).catch(() => undefined);
    if (!dir || !(await stat(dir).catch(() => undefined))?.isDirectory()) {
      await problem({ kind: 'snapshot', id: info.key, message: `its directory is missing${based(info.key)}` }, () => removeTree(info.key));
    }
  }
  // Cache records.
  const dir = join(deps.cache.dir, 'records');
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!name.endsWith('.json') || name.startsWith('.')) continue;
    report.records++;
    const path = join(dir, name);
    const remove = () => unlink(path).catch(() => {});
    let rec: CacheRecord;
    try {
      rec = JSON.parse(await readFile(path, 'utf8')) as CacheRecord;
    } catch {
      await problem({ kind: 'record', id: name, message: 'not valid JSON' }, remove);
      continue;
    }
    if (`${rec.key?.slice(7)}.json` !== name) await problem({ kind: 'record', id: name, message: `names key ${String(rec.key)}` }, remove);
    else if (snaps.get(rec.snapshot)?.kind !== 'committed' && !(rec.layer && good.has(rec.layer.descriptor.digest))) {
      // (A record whose snapshot is gone but whose layer blob is good is restored from it when needed.)
      await problem({ kind: 'record', id: rec.key, message: `snapshot ${rec.snapshot} is missing` }, remove);
    }
    else if (rec.layer && !good.has(rec.layer.descriptor.digest)) await problem({ kind: 'record', id: rec.key, message: `layer blob ${rec.layer.descriptor.digest} is missing or corrupt` }, remove);
  }
  // Images.
  for (const img of await deps.images.list()) {
    report.images++;
    const missing = [];
    for (const d of await missingContent(deps, img.target, good)) if (!(d.layer && !listed.has(d.digest) && (await opts.fetchable?.(d.digest)))) missing.push(d.digest);
    if (missing.length) {
      await problem({ kind: 'image', id: img.name, message: `missing or corrupt content: ${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', …' : ''}` }, () => deps.images.delete(img.name));
    }
  }
  return report;
}

/** The blobs of image `d` that are not good (absent or corrupt); `layer`: a layer blob. */
async function missingContent(deps: GcDeps, d: Descriptor, good: Set<string>): Promise<{ digest: string; layer?: true }[]> {
  if (!good.has(d.digest)) return [{ digest: d.digest }];
  const out: { digest: string; layer?: true }[] = [];
  let doc: { config?: Descriptor; layers?: Descriptor[]; manifests?: Descriptor[] };
  try {
    doc = JSON.parse((await deps.content.read(d.digest)).toString()) as typeof doc;
  } catch {
    return [{ digest: d.digest }];
  }
  if (doc.config && !good.has(doc.config.digest)) out.push({ digest: doc.config.digest });
  for (const x of doc.layers ?? []) if (!good.has(x.digest)) out.push({ digest: x.digest, layer: true });
  for (const m of doc.manifests ?? []) out.push(...(await missingContent(deps, m, good)));
  return out;
}
