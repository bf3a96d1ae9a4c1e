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
  /** A memory limit can be applied. */
  memory: boolean;
  /** A CFS cpu quota can be applied. */
  cpu: boolean;
  /** tsbuild's own cgroup per controller ("" = the unified v2 path). */
  own: Map<string, string>;
}

type Controller = 'pids' | 'memory' | 'cpu';
const CONTROLLERS: Controller[] = ['pids', 'memory', 'cpu'];

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
    return { version: 1, pids: false, memory: false, cpu: false, own };
  }
  const out: CgroupSupport = { version: unified ? 2 : 1, pids: false, memory: false, cpu: false, own };
  for (const c of CONTROLLERS) out[c] = unified ? await v2Usable(join(ROOT, own.get('') ?? '/'), c) : await v1Usable(own, c);
  return out;
}

async function v1Usable(own: Map<string, string>, c: Controller): Promise<boolean> {
  const path = own.get(c);
  return path !== undefined && (await writable(join(ROOT, c, path)));
}

async function v2Usable(path: string, c: Controller): Promise<boolean> {
  const enabled = await readFile(join(path, 'cgroup.subtree_control'), 'utf8').catch(() => '');
  if (enabled.split(/\s+/).includes(c)) return true;
  const available = await readFile(join(path, 'cgroup.controllers'), 'utf8').catch(() => '');
  if (!available.split(/\s+/).includes(c)) return false;
  try {
    await writeFile(join(path, 'cgroup.subtree_control'), '+' + c);
    return true;
  } catch {
    return false;
  }
}

/**
 * Host directory of a step's cgroup for `controller` (v1) or the unified one (v2, controller
 * ignored), given the cgroupsPath handed to runc (relative paths sit under tsbuild's own cgroup).
 */
export function stepCgroupDir(support: CgroupSupport, controller: string, cgroupsPath: string): string {
  const base = support.version === 2 ? ROOT : join(ROOT, controller);
  if (cgroupsPath.startsWith('/')) return join(base, cgroupsPath);
  return join(base, support.own.get(support.version === 2 ? '' : controller) ?? '/', cgroupsPath);
}

/** Number of OOM kills recorded in a step's memory cgroup (0 when unknown). */
export async function oomKills(support: CgroupSupport, cgroupsPath: string): Promise<number> {
  const dir = stepCgroupDir(support, 'memory', cgroupsPath);
  const text = await readFile(join(dir, support.version === 2 ? 'memory.events' : 'memory.oom_control'), 'utf8').catch(() => '');
  const m = /^oom_kill (\d+)$/m.exec(text);
  return m ? Number(m[1]) : 0;
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

/** How often a fork in the step's cgroup failed on pids.max (0 when unknown). */
export async function pidsLimitHits(support: CgroupSupport, cgroupsPath: string): Promise<number> {
  const dir = stepCgroupDir(support, 'pids', cgroupsPath);
  const text = await readFile(join(dir, 'pids.events'), 'utf8').catch(() => '');
  const m = /^max (\d+)$/m.exec(text);
  return m ? Number(m[1]) : 0;
}
