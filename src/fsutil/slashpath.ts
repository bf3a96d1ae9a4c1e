/** Slash-path helpers with Go's semantics (Dockerfile, .dockerignore and OCI paths are always slash paths). */

/** Go's path.Clean: drop empty and `.` elements, resolve `..` lexically; "" becomes ".". */
export function cleanSlashPath(p: string): string {
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
  const s = out.join('/');
  if (rooted) return `/${s}`;
  return s === '' ? '.' : s;
}
