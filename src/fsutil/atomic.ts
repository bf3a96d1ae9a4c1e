import { open, rename, unlink, mkdir } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join, basename } from 'node:path';

/** fsync a directory so a rename inside it survives a crash. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** A temp-file name next to `path`, in the same directory (same filesystem, so rename is atomic). */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
}

/**
 * Write `data` to `path` atomically: temp file in the same dir, write, fsync, rename, fsync the dir.
 * Readers see either the old content or the new, never a partial file.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, opts: { mode?: number; mkdir?: boolean } = {}): Promise<void> {
  const dir = dirname(path);
  if (opts.mkdir) await mkdir(dir, { recursive: true });
  const tmp = tempPathFor(path);
  const fh = await open(tmp, 'wx', opts.mode ?? 0o644);
  try {
    await fh.writeFile(data);
    await fh.sync();
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
  await fsyncDir(dir);
}
