import { readFile } from 'node:fs/promises';
import { inUserNamespace } from '../proc/userns.js';

/** Docker's RLIMIT_NOFILE for containers. */
export const DEFAULT_NOFILE = 1048576;
const CAP_SYS_RESOURCE = 24n;

let cached: Promise<number> | undefined;

/**
 * The RLIMIT_NOFILE a step can get: Docker's 1048576, unless this process may not raise its hard
 * limit (no CAP_SYS_RESOURCE, as in some sandboxes): runc sets the step's rlimits from outside and
 * would fail with EPERM, so we use our own hard limit then. Never above fs.nr_open.
 */
export function detectNofileLimit(): Promise<number> {
  cached ??= detect();
  return cached;
}

async function detect(): Promise<number> {
  const status = await readFile('/proc/self/status', 'utf8').catch(() => '');
  const limits = await readFile('/proc/self/limits', 'utf8').catch(() => '');
  const nrOpen = Number((await readFile('/proc/sys/fs/nr_open', 'utf8').catch(() => '')).trim()) || DEFAULT_NOFILE;
  const capHex = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  // rlimits are not namespaced: CAP_SYS_RESOURCE in a user namespace (rootless) cannot raise a hard limit.
  const hasCap = !inUserNamespace() && capHex !== undefined && ((BigInt('0x' + capHex) >> CAP_SYS_RESOURCE) & 1n) === 1n;
  let want = Math.min(DEFAULT_NOFILE, nrOpen);
  if (!hasCap) {
    const hard = /^Max open files\s+\S+\s+(\S+)/m.exec(limits)?.[1];
    if (hard !== undefined && hard !== 'unlimited') want = Math.min(want, Number(hard));
  }
  return want;
}
