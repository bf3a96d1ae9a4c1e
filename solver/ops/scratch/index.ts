/** The scratch source (FROM scratch): an empty filesystem; nothing to learn, nothing to run. Map history: v1. */
import type { OpModule, StoredMap } from '../op.js';

export const SCRATCH_TAG = 'tsbuild.source.scratch.v1';

export type ScratchCacheMap = { tag: typeof SCRATCH_TAG };

export const scratchOp: OpModule<'scratch', ScratchCacheMap> = {
  kind: 'scratch',
  tag: SCRATCH_TAG,
  output: 'base',
  baseLayers: () => [],
  trivial: true,
  cacheMap: () => ({ tag: SCRATCH_TAG }),
  readMap: (s: StoredMap) => (s.tag === SCRATCH_TAG ? { tag: SCRATCH_TAG } : undefined),
  explain: () => [],
  keyFacts: () => Promise.resolve({}),
  run: () => Promise.resolve({ snapshot: null }),
};
