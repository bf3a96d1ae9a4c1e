/** POSIX path helpers with Go's path.Clean semantics (Dockerfile paths are always slash paths). */

/** Go's path.Clean. */
export function cleanPath(p: string): string {
  if (p === '') return '.';
  const rooted = p.startsWith('/');
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
      continue;
    }
    out.push(part);
  }
  const joined = out.join('/');
  if (rooted) return '/' + joined;
  return joined === '' ? '.' : joined;
}

/** Go's path.Join: join non-empty elements and clean. */
export function joinPath(...parts: string[]): string {
  const nonEmpty = parts.filter((x) => x !== '');
  return nonEmpty.length === 0 ? '' : cleanPath(nonEmpty.join('/'));
}

/**
 * A source path inside a filesystem root, as a clean relative path ("." for the root).
 * Returns null when the path climbs above the root (`../x`), which only matters for the context.
 */
export function relativeToRoot(src: string): string | null {
  const cleaned = cleanPath(src.replace(/^\/+/, ''));
  if (cleaned === '..' || cleaned.startsWith('../')) return null;
  return cleaned;
}

/** Like relativeToRoot, but `..` stops at the root (a stage's or image's filesystem). */
export function insideRoot(src: string): string {
  const cleaned = cleanPath('/' + src);
  return cleaned === '/' ? '.' : cleaned.slice(1);
}
