/**
 * What a bench scenario changes: context files (in the bench's own copy of the context; the user's
 * context is never written) and base images (in the bench's own store).
 * - `copySelections`: for each COPY/ADD from the context, the files it reads (after .dockerignore), with
 *   their sizes: the change groups of `all-files` and the bytes a COPY reads.
 * - `changeFile`: give a file new content that keeps it valid for most readers (a run of newlines appended,
 *   one more each time so no two changes collide in the cache); `restore` puts the original back.
 * - `updateBaseImages`: each base image gets a new config digest (a label), as if its tag had moved to a
 *   rebuilt image with the same layers. No registry is asked.
 */
import { readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { DockerIgnoreMatcher } from '../../context/dockerignore.js';
import { selectSources } from '../../context/select.js';
import { LocalContentStore } from '../../content/store.js';
import { LocalImageStore } from '../../imagestore/store.js';
import { UsageError } from '../../errors.js';
import type { Definition } from '../../llb/types.js';
import { storeLayout } from '../store-root.js';
import { BenchError } from './runner.js';

export interface CopySelection {
  step: string;
  /** Context-relative paths of the regular files it reads, sorted, with sizes. */
  files: { path: string; size: number }[];
  bytes: number;
}

export async function copySelections(def: Definition, contextDir: string): Promise<Map<string, CopySelection>> {
  const out = new Map<string, CopySelection>();
  for (const [id, op] of Object.entries(def.ops)) {
    if (op.type !== 'file') continue;
    const files = new Map<string, number>();
    let local = false;
    for (const a of op.actions) {
      if (a.action !== 'copy') continue;
      const from = def.ops[op.inputs[a.sourceInput] ?? ''];
      if (from?.type !== 'source' || from.source.kind !== 'local') continue;
      local = true;
      const exclude = new DockerIgnoreMatcher(from.source.excludePatterns);
      const sel = await selectSources({ root: contextDir, sources: a.src, exclude, allowWildcard: a.allowWildcard, followSymlinks: a.followSymlinks });
      for (const m of sel.flatMap((x) => x.matches)) {
        for (const e of m.entries) if (e.type === 'file') files.set(relative(contextDir, e.hostPath).split(sep).join('/'), e.stat.size);
      }
    }
    if (!local) continue;
    const list = [...files].map(([path, size]) => ({ path, size })).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    out.set(id, { step: id, files: list, bytes: list.reduce((n, f) => n + f.size, 0) });
  }
  return out;
}

/** `change=PATH`: the file to modify (PATH itself, or the first file below a directory), context-relative. */
export function fileToChange(contextDir: string, path: string): string {
  const abs = resolve(contextDir, path);
  const rel = relative(contextDir, abs);
  if (rel.startsWith('..') || rel === '') throw new UsageError(`change=${path}: not a path inside the build context`);
  const st = statSync(abs, { throwIfNoEntry: false });
  if (!st) throw new UsageError(`change=${path}: no such file or directory in the build context`);
  if (st.isFile()) return rel.split(sep).join('/');
  if (!st.isDirectory()) throw new UsageError(`change=${path}: not a regular file or directory`);
  const first = firstFile(abs);
  if (!first) throw new UsageError(`change=${path}: the directory holds no regular file to change`);
  return relative(contextDir, first).split(sep).join('/');
}

function firstFile(dir: string): string | undefined {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    const st = statSync(p, { throwIfNoEntry: false });
    if (st?.isFile()) return p;
    if (st?.isDirectory()) {
      const f = firstFile(p);
      if (f) return f;
    }
  }
  return undefined;
}

let variant = 0;

/** Modify `rel` in the context copy; returns the function that restores it. */
export function changeFile(contextDir: string, rel: string): () => void {
  const p = join(contextDir, rel);
  const original = readFileSync(p);
  const st = statSync(p);
  variant += 1;
  writeFileSync(p, Buffer.concat([original, Buffer.from('\n'.repeat(variant))]));
  return () => {
    writeFileSync(p, original);
    utimesSync(p, st.atime, st.mtime);
  };
}

/** Point every base image of `def` at a new image (same layers, a config with one more label). */
export async function updateBaseImages(def: Definition, root: string, n: number): Promise<void> {
  const layout = storeLayout(root);
  const content = new LocalContentStore(layout.content);
  const images = new LocalImageStore(layout.images);
  const refs = new Set<string>();
  for (const op of Object.values(def.ops)) if (op.type === 'source' && op.source.kind === 'image') refs.add(op.source.ref);
  for (const ref of refs) {
    const rec = await images.get(ref);
    if (!rec) throw new BenchError(`base: image ${ref} is not in the bench store (base images pinned by digest or pulled each build cannot be updated)`);
    const manifest = JSON.parse((await content.read(rec.target.digest)).toString('utf8')) as { config?: { digest: string; size: number }; manifests?: unknown };
    if (!manifest.config) throw new BenchError(`base: image ${ref} is an index; only single-platform images can be updated`);
    const config = JSON.parse((await content.read(manifest.config.digest)).toString('utf8')) as { config?: { Labels?: Record<string, string> } };
    config.config = { ...(config.config ?? {}), Labels: { ...(config.config?.Labels ?? {}), 'tsbuild.bench.base': String(n) } };
    const cfg = await content.put(Buffer.from(JSON.stringify(config)));
    manifest.config = { ...manifest.config, digest: cfg.digest, size: cfg.size };
    const man = await content.put(Buffer.from(JSON.stringify(manifest)));
    await images.put(ref, { ...rec.target, digest: man.digest, size: man.size });
  }
  // The name now differs from what was pulled: never ask a registry about it in this store.
  await rm(join(root, 'registry', 'pulled'), { recursive: true, force: true });
}
