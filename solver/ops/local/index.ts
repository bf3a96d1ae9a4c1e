/**
 * The local source (the build context): no snapshot of its own; the ops that read it (COPY, RUN --mount)
 * select and checksum its files themselves (./checksum.ts), so it never runs.
 * Map history: v1 — the local's name and its .dockerignore patterns.
 */
import type { OpModule, StoredMap } from '../op.js';
import { isStringArray, notARootfs, same } from '../reasons.js';

export const LOCAL_TAG = 'tsbuild.source.local.v1';

export type LocalCacheMap = { tag: typeof LOCAL_TAG; name: string; excludePatterns: string[]; includePaths: string[] | undefined };

export const localOp: OpModule<'local', LocalCacheMap> = {
  kind: 'local',
  tag: LOCAL_TAG,
  output: 'base',
  baseLayers: (op) => notARootfs(`local source "${op.source.name}"`),
  trivial: true,
  cacheMap: (op) => ({ tag: LOCAL_TAG, name: op.source.name, excludePatterns: op.source.excludePatterns, includePaths: op.source.includePaths }),
  readMap: (s: StoredMap) =>
    s.tag === LOCAL_TAG && typeof s.name === 'string' && isStringArray(s.excludePatterns) ? (s as unknown as LocalCacheMap) : undefined,
  explain: (a, b) => [
    ...(a.name === b.name ? [] : ['local source changed']),
    ...(same(a.excludePatterns, b.excludePatterns) ? [] : ['.dockerignore changed']),
    ...(same(a.includePaths, b.includePaths) ? [] : ['included paths changed']),
  ],
  keyFacts: () => Promise.resolve({}),
  run: () => Promise.resolve({ snapshot: null }),
};
