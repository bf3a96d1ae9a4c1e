/**
 * Incremental COPY from the build context (src/copy/incremental.ts does the file work): when the same step
 * was built before on the same parent snapshot and only the selected files changed, the new snapshot is
 * made from the earlier one's, and only what changed is copied. Anything unusual copies from scratch.
 */
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { SelectionFile } from '../../../src/context/checksum.js';
import type { SourceSelection } from '../../../src/context/select.js';
import { CopyReuseUnsupported, type CopyReuse } from '../../../src/copy/copy.js';
import { mirrorTree, planReuse, removeStale, reuseHooks, rowsByPath } from '../../../src/copy/incremental.js';
import type { FileOp } from '../../../src/llb/types.js';
import type { Snapshotter } from '../../../src/snapshot/types.js';
import type { RunContext } from '../../types.js';
import { localSourceOf } from '../local/checksum.js';

/**
 * An incremental copy costs two mounts and a `cp` process (~30 ms) before it saves anything: below this
 * many entries and bytes a copy from scratch is as fast.
 */
const MIN_ENTRIES = 500;
const MIN_BYTES = 16 * 1024 * 1024;

function worthIt(selection: SourceSelection[]): boolean {
  let entries = 0;
  let bytes = 0;
  for (const s of selection) {
    for (const m of s.matches) {
      entries += m.entries.length;
      for (const e of m.entries) bytes += e.type === 'file' ? e.stat.size : 0;
    }
  }
  return entries >= MIN_ENTRIES || bytes >= MIN_BYTES;
}

export interface ReuseCandidate {
  /** The earlier result's own dir (never written). */
  oldDir: string;
  selection: SourceSelection[];
  dest: string;
  oldRows: Map<string, SelectionFile>;
  newRows: Map<string, SelectionFile>;
}

/** What an incremental copy can start from, or undefined (copy from scratch). */
export async function reuseCandidate(ctx: RunContext, snapshotter: Snapshotter): Promise<ReuseCandidate | undefined> {
  const prev = ctx.previous;
  const op = ctx.vertex.op as FileOp;
  const action = op.actions[0];
  if (!prev || op.actions.length !== 1 || action?.action !== 'copy') return undefined;
  if (action.parents || action.unpack || (action.exclude?.length ?? 0) > 0 || action.src.length !== 1) return undefined;
  // --chown by name reads /etc/passwd of the rootfs, which the earlier copy may have written
  if (action.chown && !/^\d+$/.test(`${action.chown.user}${action.chown.group ?? '0'}`)) return undefined;
  if (!localSourceOf(ctx.vertex.inputs[action.sourceInput]?.op ?? op)) return undefined;
  const selection = ctx.facts.localSelections?.[0];
  const oldFiles = prev.files[0];
  const newFiles = ctx.facts.localFiles?.[0];
  if (!selection || !oldFiles || !newFiles || !worthIt(selection)) return undefined;
  const oldRows = rowsByPath(oldFiles);
  const newRows = rowsByPath(newFiles);
  if (!oldRows || !newRows) return undefined;
  const info = await snapshotter.stat(prev.snapshot);
  if (!info || info.kind !== 'committed' || info.parent !== (ctx.inputs[0]?.snapshot ?? undefined)) return undefined;
  return { oldDir: await snapshotter.layerDir(prev.snapshot), selection, dest: action.dest, oldRows, newRows };
}

/**
 * Make the copy's result in the empty active snapshot whose own dir is `upper`. `mounted(fn)` runs fn on a
 * mount of the snapshot; `copy(rootfs, reuse)` runs the op's copy with the reuse hooks. Returns how many
 * entries were kept, or undefined when it did nothing (upper is then empty again): copy from scratch.
 */
export async function copyIncrementally(
  c: ReuseCandidate,
  upper: string,
  mounted: <T>(fn: (rootfs: string) => Promise<T>) => Promise<T>,
  copy: (rootfs: string, reuse: CopyReuse) => Promise<void>,
): Promise<number | undefined> {
  const input = { selection: c.selection, dest: c.dest, oldRows: c.oldRows, newRows: c.newRows };
  let plan = planReuse(input);
  if (plan === 'parent') plan = await mounted(async (lowerRoot) => planReuse({ ...input, lowerRoot }));
  if (!plan || plan === 'parent') return undefined;
  try {
    await mirrorTree(c.oldDir, upper);
    removeStale(upper, plan);
  } catch {
    emptyDir(upper); // the earlier snapshot went away (pruned) or cannot be linked: copy from scratch
    return undefined;
  }
  try {
    return await mounted(async (rootfs) => {
      const hooks = reuseHooks({ rootfs, upper, plan, oldRows: c.oldRows, newRows: c.newRows });
      await copy(rootfs, hooks);
      return hooks.kept;
    });
  } catch (err) {
    if (!(err instanceof CopyReuseUnsupported)) throw err;
    emptyDir(upper);
    return undefined;
  }
}

function emptyDir(dir: string): void {
  for (const name of readdirSync(dir)) rmSync(join(dir, name), { recursive: true, force: true });
}
