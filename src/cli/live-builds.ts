/** Which builds are running on a store: `state/builds/<pid>` markers (see recover.ts) of live processes. */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pidAlive } from '../proc/alive.js';

/** Pids of live builds on the store whose `state/` dir is `stateDir`, other than this process. */
export function otherLiveBuilds(stateDir: string): number[] {
  let names: string[];
  try {
    names = readdirSync(join(stateDir, 'builds'));
  } catch {
    return [];
  }
  return names.filter((n) => /^\d+$/.test(n)).map(Number).filter((pid) => pid !== process.pid && pidAlive(pid));
}
