/** `tsbuild build --explain`: every step's cache decision, and for each step that ran, why its cache missed. */
import type { VertexSummary } from '../llb/result.js';

export function formatExplain(vertices: VertexSummary[]): string {
  const lines = ['', 'Cache decisions (--explain):'];
  for (const v of vertices) {
    const key = v.cacheKey ? `key ${v.cacheKey.replace(/^sha256:/, '').slice(0, 16)}` : '';
    if (v.cached) {
      lines.push(`  CACHED ${v.name}`);
      lines.push(`         ${key}${v.cachedFrom ? `, built ${v.cachedFrom}` : ''}${v.cacheSource ? `, from cache source ${v.cacheSource}` : ''}`);
      continue;
    }
    lines.push(`  RAN    ${v.name} (${(v.durationMs / 1000).toFixed(2)}s)`);
    lines.push(`         ${key}`);
    for (const r of v.cacheMiss ?? ['cache miss (reason unknown)']) lines.push(`         miss: ${r}`);
  }
  const ran = vertices.filter((v) => !v.cached).length;
  lines.push(`  ${vertices.length - ran} cached, ${ran} ran`, '');
  return lines.join('\n');
}
