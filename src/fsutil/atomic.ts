import { open, readdir, rename, unlink, mkdir } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join, basename } from 'node:path';
import { withTempLease } from './temp-lease.js';

/** fsync a directory so a rename inside it survives a crash. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Remove, in each of `dirs` (not below), the temp files of atomic writes (`.<name>.tmp-<pid>-<hex>`, see
 * tempPathFor) whose writer is no longer `alive`: what a process killed mid-write left. Never read by
 * anyone, they only take space. Returns how many were removed.
 */
export async function removeDeadTempFiles(dirs: readonly string[], alive: (pid: number) => boolean): Promise<number> {
  let removed = 0;
  for (const dir of dirs) {
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      const pid = Number(/^\..*\.tmp-(\d+)-[0-9a-f]+$/.exec(name)?.[1]);
      if (!pid || alive(pid)) continue;
      await unlink(join(dir, name)).then(() => removed++, () => {});
    }
  }
  return removed;
}

/** A temp-file name next to `path`, in the same directory (same filesystem, so rename is atomic). */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
}

/**
 * Write `data` to `path` atomically: temp file in the same dir, write, fsync, rename, fsync the dir.
 * Readers see either the old content or the new, never a partial file.
 * `durable: false` skips both fsyncs (2 of the ~30 a build's end used to wait for, 5-20 ms each): only for
 * caches and diagnostics whose readers ignore an unreadable file and re-check every fact they read (after a
 * power loss the file may be the old one, empty or cut short; a process crash still leaves old or new).
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, opts: { mode?: number; mkdir?: boolean; leased?: boolean; durable?: boolean } = {}): Promise<void> {
  const dir = dirname(path);
  if (opts.mkdir) await mkdir(dir, { recursive: true });
  const tmp = tempPathFor(path);
  // Outside the store (an output's dir), the temp file is leased so crash recovery can find it.
  const durable = opts.durable !== false;
  if (opts.leased) return withTempLease(tmp, () => writeThrough(path, dir, tmp, data, opts.mode, durable));
  return writeThrough(path, dir, tmp, data, opts.mode, durable);
}

async function writeThrough(path: string, dir: string, tmp: string, data: string | Uint8Array, mode: number | undefined, durable: boolean): Promise<void> {
  const fh = await open(tmp, 'wx', mode ?? 0o644);
  try {
    await fh.writeFile(data);
    if (durable) await fh.sync();
  } catch (err) {
    await fh.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
  if (durable) await fsyncDir(dir);
}
