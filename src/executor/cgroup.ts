import { access, readFile, statfs, writeFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import { join } from 'node:path';

/**
 * What the executor may ask runc to do with cgroups on this host.
 *
 * Steps get a relative `cgroupsPath` ("tsbuild-<id>"): runc places a relative path under its own
 * cgroup, per controller on cgroup v1 (including hybrid hosts, where e.g. memory and pids may sit at
 * different paths) and under the own unified cgroup on pure v2. So a step never escapes the limits of
 * the cgroup tsbuild itself runs in, and runc creates and removes the step's cgroup.
 *
 * On pure v2 a controller is usable in a child only when the parent's cgroup.subtree_control enables
 * it, and a non-root cgroup that holds processes (tsbuild itself) cannot enable any ("no internal
 * processes"). When pids cannot be enabled, `pids` is false and the spec carries no pids limit
 * (runc would fail writing pids.max).
 */
export interface CgroupSupport {
  version: 1 | 2;
  /** A pids limit can be applied to a step's cgroup. */
  pids: boolean;
}

const CGROUP2_SUPER_MAGIC = 0x63677270;
const ROOT = '/sys/fs/cgroup';

let cached: Promise<CgroupSupport> | undefined;

export function detectCgroupSupport(): Promise<CgroupSupport> {
  cached ??= detect();
  return cached;
}

async function detect(): Promise<CgroupSupport> {
  const own = parseProcCgroup(await readFile('/proc/self/cgroup', 'utf8').catch(() => ''));
  let unified = false;
  try {
    unified = (await statfs(ROOT)).type === CGROUP2_SUPER_MAGIC;
  } catch {
    return { version: 1, pids: false };
  }
  if (!unified) {
    const pidsPath = own.get('pids');
    if (pidsPath === undefined) return { version: 1, pids: false };
    return { version: 1, pids: await writable(join(ROOT, 'pids', pidsPath)) };
  }
  const path = join(ROOT, own.get('') ?? '/');
  const enabled = await readFile(join(path, 'cgroup.subtree_control'), 'utf8').catch(() => '');
  if (enabled.split(/\s+/).includes('pids')) return { version: 2, pids: true };
  const available = await readFile(join(path, 'cgroup.controllers'), 'utf8').catch(() => '');
  if (!available.split(/\s+/).includes('pids')) return { version: 2, pids: false };
  try {
    await writeFile(join(path, 'cgroup.subtree_control'), '+pids');
    return { version: 2, pids: true };
  } catch {
    return { version: 2, pids: false };
  }
}

/** /proc/self/cgroup as controller → path; the v2 line ("0::/path") has the key "". */
export function parseProcCgroup(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    const [, controllers, path] = m as unknown as [string, string, string];
    if (controllers === '') out.set('', path);
    for (const c of controllers.split(',')) if (c !== '') out.set(c, path);
  }
  return out;
}

async function writable(path: string): Promise<boolean> {
  try {
    await access(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}
