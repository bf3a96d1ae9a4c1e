/** The cache records live in core (src/cache/store.ts) so that `tsbuild du/prune/doctor` can read them. */
export { CacheStore, type CacheRecord, type CacheStoreOptions, type StepMemo } from '../src/cache/store.js';
