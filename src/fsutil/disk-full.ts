/**
 * ENOSPC / EDQUOT anywhere in a build (the build marker, a blob, a snapshot, a layer, a cache record) is
 * the store's disk being full, not a failure of the step that happened to be running: one clear error
 * that names the store, never the internal file that could not be written.
 */
import { StoreError, TsbuildError, VertexError } from '../errors.js';

const FULL = new Set(['ENOSPC', 'EDQUOT']);

/** The disk-full error for `err` (walking its causes), or undefined when it is something else. */
export function diskFullError(err: unknown, storeRoot: string): StoreError | undefined {
  let step: string | undefined;
  let cur: unknown = err;
  for (let i = 0; i < 10 && cur; i++) {
    // An output destination that filled (`-o dest=…`, --iidfile, --metadata-file) is not the store's disk:
    // its own error already names the file the user chose.
    if (cur instanceof TsbuildError && cur.code === 'EXPORT_FAILED') return undefined;
    if (cur instanceof VertexError) step ??= cur.vertex;
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string' && FULL.has(code)) {
      const what = code === 'EDQUOT' ? 'disk quota exceeded' : 'no space left on device';
      return new StoreError('STORE_FULL', `the disk holding the store ${storeRoot} is full (${what})${step ? ` while running ${clip(step)}` : ''}`, {
        hint: 'free space on that disk, run `tsbuild prune`, or use another store with --root',
        cause: err,
      });
    }
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

function clip(s: string): string {
  return s.length > 200 ? `${s.slice(0, 200)}…` : s;
}
