/** Selection-level parts of COPY --exclude and --parents (pure functions over a source selection). */
import type { DockerIgnoreMatcher } from '../context/dockerignore.js';
import type { SourceMatch, SourceSelection } from '../context/select.js';
import { cleanSlashPath } from '../fsutil/slashpath.js';

/**
 * --exclude: drop entries matching the patterns, as paths relative to their match (a matched file or
 * directory itself is named by its base name). A source whose matches are all excluded copies nothing
 * (BuildKit filters while it copies, after the sources were found).
 */
export function applyCopyExclude(selection: SourceSelection[], matcher: DockerIgnoreMatcher): void {
  for (const source of selection) {
    const kept: SourceMatch[] = [];
    for (const m of source.matches) {
      const self = m.path.slice(m.path.lastIndexOf('/') + 1) || '.';
      if (self !== '.' && matcher.explain(self).excluded) continue;
      const entries = m.entries.filter((e, j) => j === 0 || !matcher.explain(e.rel).excluded);
      // Children of an excluded directory go too (their parent is gone).
      const dropped = new Set(m.entries.filter((e) => !entries.includes(e) && e.type === 'dir').map((e) => e.rel));
      const final = entries.filter((e) => ![...dropped].some((d) => e.rel.startsWith(d + '/')));
      kept.push({ path: m.path, entries: final });
    }
    source.matches = kept;
  }
}

/** The part of a match's path --parents keeps: after a `/./` in its source, else all of it. */
export function parentsPath(src: string, matchPath: string): string {
  const i = src.indexOf('/./');
  if (i < 0) return matchPath;
  const prefix = cleanSlashPath(`/${src.slice(0, i)}`).slice(1);
  if (prefix === '') return matchPath;
  return matchPath === prefix ? '' : matchPath.startsWith(prefix + '/') ? matchPath.slice(prefix.length + 1) : matchPath;
}
