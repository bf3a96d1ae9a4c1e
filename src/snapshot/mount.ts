import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { SandboxError } from '../errors.js';
import type { Mount } from './types.js';

const run = promisify(execFile);

/**
 * Mount `mounts` (as returned by a Snapshotter) on `target`, in order. Uses util-linux mount(8):
 * Node has no mount(2). A bind mount of a read-only view is remounted read-only.
 */
export async function mountAll(mounts: Mount[], target: string): Promise<void> {
  for (const m of mounts) {
    const args: string[] = [];
    if (m.type === 'bind') {
      const ro = m.options.includes('ro');
      args.push('--bind', m.source, target);
      await mountCmd(args);
      if (ro) await mountCmd(['-o', 'remount,bind,ro', target]);
      continue;
    }
    args.push('-t', m.type);
    if (m.options.length) args.push('-o', m.options.join(','));
    args.push(m.source, target);
    await mountCmd(args);
  }
}

/** Unmount `target`. With `lazy`, detach even if busy (used on cleanup paths). */
export async function unmount(target: string, opts: { lazy?: boolean } = {}): Promise<void> {
  const args = opts.lazy ? ['-l', target] : [target];
  try {
    await run('umount', args);
  } catch (err) {
    const msg = (err as { stderr?: string }).stderr ?? String(err);
    if (/not mounted|no mount point|not found/i.test(msg)) return;
    throw new SandboxError('UNMOUNT_FAILED', `cannot unmount ${target}: ${msg.trim()}`, { cause: err });
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
