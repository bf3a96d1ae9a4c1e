import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { SandboxError } from '../errors.js';
import type { Mount } from './types.js';
import { HelperCallError, helperBind, helperMount, helperRemountReadonly, helperUnmount } from '../proc/helper.js';

const run = promisify(execFile);

/**
 * Mount `mounts` (as returned by a Snapshotter) on `target`, in order. Node has no mount(2): the system call
 * is made by the system call helper (../proc/helper.ts, one process for the whole build) when it can, else by
 * util-linux mount(8). A bind mount of a read-only view is remounted read-only.
 */
export async function mountAll(mounts: Mount[], target: string): Promise<void> {
  for (const m of mounts) {
    const args: string[] = [];
    if (m.type === 'bind') {
      const ro = m.options.includes('ro');
      if (await fast(() => helperBind(m.source, target), `mount --bind ${m.source} ${target}`)) {
        if (ro && !(await fast(() => helperRemountReadonly(target), `mount -o remount,bind,ro ${target}`))) await mountCmd(['-o', 'remount,bind,ro', target]);
        continue;
      }
      args.push('--bind', m.source, target);
      await mountCmd(args);
      if (ro) await mountCmd(['-o', 'remount,bind,ro', target]);
      continue;
    }
    if (await fast(() => helperMount(m.type, m.source, target, m.options), `mount -t ${m.type} ${m.source} ${target}`)) continue;
    args.push('-t', m.type);
    if (m.options.length) args.push('-o', m.options.join(','));
    args.push(m.source, target);
    await mountCmd(args);
  }
}

/** Unmount `target`. With `lazy`, detach even if busy (used on cleanup paths). */
export async function unmount(target: string, opts: { lazy?: boolean } = {}): Promise<void> {
  try {
    if (await helperUnmount(target, opts.lazy ?? false)) return;
  } catch (err) {
    // EINVAL: not a mount point; ENOENT: no such path (umount(8)'s "not mounted" / "not found")
    if (err instanceof HelperCallError && (err.errno === 22 || err.errno === 2)) return;
    throw new SandboxError('UNMOUNT_FAILED', `cannot unmount ${target}: ${(err as Error).message}`, { cause: err });
  }
  const args = opts.lazy ? ['-l', target] : [target];
  try {
    await run('umount', args);
  } catch (err) {
    const msg = (err as { stderr?: string }).stderr ?? String(err);
    if (/not mounted|no mount point|not found/i.test(msg)) return;
    throw new SandboxError('UNMOUNT_FAILED', `cannot unmount ${target}: ${msg.trim()}`, { cause: err });
  }
}

/** The helper's answer: true (done), false (use mount(8)); a failed mount(2) is a MOUNT_FAILED. */
async function fast(call: () => Promise<true | undefined>, what: string): Promise<boolean> {
  try {
    return (await call()) === true;
  } catch (err) {
    throw new SandboxError('MOUNT_FAILED', `${what} failed: ${(err as Error).message}`, {
      cause: err,
      hint: 'tsbuild needs root (or a user namespace) and a kernel with overlayfs',
    });
  }
}

async function mountCmd(args: string[]): Promise<void> {
  try {
    await run('mount', args);
  } catch (err) {
    const msg = (err as { stderr?: string }).stderr ?? String(err);
    throw new SandboxError('MOUNT_FAILED', `mount ${args.join(' ')} failed: ${msg.trim()}`, {
      cause: err,
      hint: 'tsbuild needs root (or a user namespace) and a kernel with overlayfs',
    });
  }
}

/** Mount, run `fn(target)`, always unmount. */
export async function withMounts<T>(mounts: Mount[], target: string, fn: (dir: string) => Promise<T>): Promise<T> {
  await mountAll(mounts, target);
  try {
    return await fn(target);
  } finally {
    await unmount(target).catch(() => unmount(target, { lazy: true }));
  }
}
