/**
 * Run by cgroup-v2.test.ts (bundled with esbuild) inside a mount namespace whose /sys/fs/cgroup is the
 * host's cgroup2 mount: exercises the executor's cgroup v2 paths for real on a hybrid host.
 * argv: <work dir>. Prints one JSON line.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { detectCgroupSupport } from '../../../src/executor/cgroup.js';
import { RuncExecutor } from '../../../src/executor/runc.js';
import type { Mount } from '../../../src/snapshot/types.js';
import { makeBusyboxRootfs } from './busybox-rootfs.js';

const work = process.argv[2]!;
const lower = join(work, 'lower');
await makeBusyboxRootfs(lower);
let n = 0;
async function overlay(): Promise<Mount[]> {
  const d = join(work, `ov${n++}`);
  await mkdir(join(d, 'upper'), { recursive: true });
  await mkdir(join(d, 'work'));
  return [{ type: 'overlay', source: 'overlay', options: [`lowerdir=${lower}`, `upperdir=${join(d, 'upper')}`, `workdir=${join(d, 'work')}`] }];
}

const support = await detectCgroupSupport();
const exec = new RuncExecutor({ stateDir: join(work, 'state') });
const out: Record<string, unknown> = { support: { ...support, own: Object.fromEntries(support.own) } };
async function run(script: string, limits?: { pidsLimit?: number; memoryBytes?: number }): Promise<unknown> {
  let stdout = '';
  try {
    const r = await exec.run(await overlay(), { args: ['/bin/sh', '-c', script], env: [], cwd: '/', user: '' }, {
      network: 'host',
      ...(limits ? { limits } : {}),
      onStdout: (c) => (stdout += c),
    });
    return { ...r, stdout };
  } catch (err) {
    const e = err as { code?: string; message?: string; hint?: string };
    return { code: e.code, message: e.message, hint: e.hint };
  }
}
// The step's cgroup, as the step sees it, and the pids.max it got.
out.plain = await run('grep "^0::" /proc/self/cgroup; cat /sys/fs/cgroup/pids.max 2>/dev/null || echo no-pids');
out.pids = await run('cat /sys/fs/cgroup/pids.max', { pidsLimit: 10 });
out.memory = await run('cat /sys/fs/cgroup/memory.max', { memoryBytes: 64 * 1024 * 1024 });
// Left behind: tsbuild-* cgroups under our own.
const ownDir = join('/sys/fs/cgroup', support.own.get('') ?? '/');
out.leftover = (await readFile('/proc/self/mountinfo', 'utf8')).includes(join(work, 'state'));
const { readdir } = await import('node:fs/promises');
out.cgroupsLeft = (await readdir(ownDir)).filter((e) => e.startsWith(`tsbuild-tsb-${process.pid}-`));
await exec.close();
console.log(JSON.stringify(out));
