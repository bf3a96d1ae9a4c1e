/** POSIX path helpers with Go's path.Clean semantics (Dockerfile paths are always slash paths). */
import { cleanSlashPath } from '../../src/fsutil/slashpath.js';

/** Go's path.Join: join non-empty elements and clean. */
export function joinPath(...parts: string[]): string {
  const nonEmpty = parts.filter((x) => x !== '');
  return nonEmpty.length === 0 ? '' : cleanSlashPath(nonEmpty.join('/'));
}

/**
 * A source path inside a filesystem root, as a clean relative path ("." for the root).
 * Returns null when the path climbs above the root (`../x`), which only matters for the context.
 */
export function relativeToRoot(src: string): string | null {
  const cleaned = cleanSlashPath(src.replace(/^\/+/, ''));
  if (cleaned === '..' || cleaned.startsWith('../')) return null;
  return cleaned;
}

/** Like relativeToRoot, but `..` stops at the root (a stage's or image's filesystem). */
export function insideRoot(src: string): string {
  const cleaned = cleanSlashPath('/' + src);
  return cleaned === '/' ? '.' : cleaned.slice(1);
}
