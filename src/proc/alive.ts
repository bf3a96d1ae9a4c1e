import { readFileSync } from 'node:fs';

/**
 * Is process `pid` alive? Used to tell a dead build's leftovers (ingest files, snapshots, runc
 * containers, mounts) from a running build's. A zombie counts as dead: it has exited, and its parent
 * (perhaps an init that does not reap) may never collect it.
 */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // /proc/<pid>/stat: "pid (comm) S ..." — comm may contain spaces and parens; the state follows the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false; // gone between the two checks
  }
}
