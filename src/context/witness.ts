/**
 * A record of every host path a build's context reads depended on, with the lstat seen, so that a later
 * process can tell in one pass of lstat(2) calls that a re-read would select the same entries with the
 * same content (src/cli/rebuild-memo.ts). Fed by ./select.ts.
 *
 * Why lstat is enough: a file's content change moves its mtime/ctime (and usually size); an entry added,
 * removed or renamed in a directory moves the directory's mtime/ctime; a symlink re-pointed is a new
 * inode. Two limits are handled by refusing to vouch (`trusted` is false):
 * - racy entries: one changed within RACY_MS of being observed could change again within the same
 *   timestamp tick without a visible stat change (as in ./statcache.ts);
 * - a source path resolved through a symlink: the resolution depends on paths not recorded here.
 */
import { lstatSync, type Stats } from 'node:fs';

/** An entry changed this recently may change again without a visible stat change (as in statcache.ts). */
const RACY_MS = 1000;

/** [host path, mtimeMs, ctimeMs, inode, size, mode] or [host path] for a path that did not exist. */
export type WitnessRow = [string, number, number, number, number, number] | [string];

export interface ContextWitness {
  /** The path was lstat'ed (or read as a directory) and the result mattered; `st` undefined = absent. */
  see(path: string, st: Stats | undefined): void;
  /** Something the selection depended on is not captured by lstat rows; never vouch for this build. */
  distrust(reason: string): void;
}

export class PathWitness implements ContextWitness {
  private readonly rows = new Map<string, WitnessRow>();
  private reason: string | undefined;

  see(path: string, st: Stats | undefined): void {
    if (this.rows.has(path)) return;
    this.rows.set(path, st ? [path, st.mtimeMs, st.ctimeMs, st.ino, st.size, st.mode] : [path]);
  }

  distrust(reason: string): void {
    this.reason ??= reason;
  }

  /**
   * The rows, or why they cannot be trusted (a symlinked source path, or an entry changed within RACY_MS
   * of `now`, the moment the caller is about to vouch for them).
   */
  result(now = Date.now()): { rows: WitnessRow[] } | { distrusted: string } {
    if (this.reason !== undefined) return { distrusted: this.reason };
    for (const r of this.rows.values()) {
      if (r.length > 1 && (now - r[1]! < RACY_MS || now - r[2]! < RACY_MS)) return { distrusted: `${r[0]} changed less than ${RACY_MS} ms ago` };
    }
    return { rows: [...this.rows.values()] };
  }
}

/** The first row whose path no longer has the recorded lstat, or undefined when all still match. */
export function firstChanged(rows: readonly WitnessRow[]): string | undefined {
  for (const r of rows) {
    const st = lstatSync(r[0], { throwIfNoEntry: false });
    if (r.length === 1) {
      if (st) return r[0];
      continue;
    }
    if (!st || st.mtimeMs !== r[1] || st.ctimeMs !== r[2] || st.ino !== r[3] || st.size !== r[4] || st.mode !== r[5]) return r[0];
  }
  return undefined;
}
