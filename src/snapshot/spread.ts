/**
 * Snapshot directories spread over the filesystem: the snapshots root carries ext2/3/4's "top of directory
 * hierarchies" hint (`chattr +T`, FS_TOPDIR_FL), so that ext4's allocator (Orlov) places each snapshot's
 * directory, an unrelated tree, in a block group of its own choosing, as it does for directories under `/`,
 * instead of next to the snapshots root.
 *
 * Why: a store deletes and creates many files (a cold build after a prune, `--no-cache`, auto-gc, a new
 * snapshot replacing a pruned one). On an ext4 without a journal (common on cloud VMs' ephemeral disks; this
 * machine's root), creating an inode skips every inode of the group deleted in the last 60-360 s, looking
 * each one up in the buffer cache (`recently_deleted()` in ext4's ialloc.c): a COPY of 14,000 files right
 * after the store held another 14,000 spent most of its time there (perf: recently_deleted, find_get_block)
 * and took 1.1 → 2.3 → 3.5 s over three rounds (`cp -a` of the same tree: 1.35 → 6.3 s); with the hint,
 * 1.1 s each round. With a journal the allocator does not do that scan and the hint only spreads directories.
 *
 * Best effort, once per snapshots directory, by the first build that makes a snapshot in it: `chattr`
 * (e2fsprogs) missing, another filesystem, or no permission leaves the directory as it was. A marker under
 * `state/` holds the inode number of the directory it was tried on, so later builds cost one stat, and a store
 * copied or restored elsewhere (which loses the flag: cp and tar do not keep it) is tried again. Nothing reads
 * the flag.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Mark `snapshotsDir` as a top directory (see above) unless `stateDir` says it was tried on it. A build's
 * snapshotter calls it once, before it makes its first snapshot directory (src/cli/build.ts), so a build
 * that makes none (every step a hit, as in a CI job with a warm remote cache) starts no `chattr` (~7-10 ms).
 * Never throws or rejects.
 */
export async function spreadSnapshotDirs(snapshotsDir: string, stateDir: string): Promise<void> {
  const marker = join(stateDir, 'snapshots-spread');
  try {
    const ino = String(statSync(snapshotsDir).ino);
    let done: string | undefined;
    try {
      done = readFileSync(marker, 'utf8');
    } catch {
      done = undefined;
    }
    if (done === ino) return;
    spawnSync('chattr', ['+T', snapshotsDir], { stdio: 'ignore', timeout: 5000 });
    writeFileSync(marker, ino); // also when chattr is missing or refused: tried once per directory
  } catch {
    // not now; the next build tries again
  }
}
