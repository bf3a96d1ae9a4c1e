import { readFile } from 'node:fs/promises';
import { unmount } from '../snapshot/mount.js';

/** Whether `path` is a mount point in this mount namespace (per /proc/self/mountinfo). */
export async function isMountPoint(path: string): Promise<boolean> {
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  // Field 5 is the mount point, with space, tab, newline and backslash octal-escaped.
  const esc = path.replace(/[ \t\n\\]/g, (c) => '\\' + c.charCodeAt(0).toString(8).padStart(3, '0'));
  return mountinfo.split('\n').some((l) => l.split(' ')[4] === esc);
}

/**
 * Unmount everything stacked on `path` (mountAll may have mounted several things there), lazily if
 * busy. Resolves only when `path` is no longer a mount point; throws otherwise.
 */
export async function unmountAll(path: string): Promise<void> {
  for (let i = 0; i < 16 && (await isMountPoint(path)); i++) {
    await unmount(path).catch(() => unmount(path, { lazy: true }));
  }
  if (await isMountPoint(path)) throw new Error(`${path} is still mounted`);
}
