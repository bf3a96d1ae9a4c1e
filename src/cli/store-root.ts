import { join, resolve } from 'node:path';
import { chmod, mkdir, stat } from 'node:fs/promises';
import { homedir } from 'node:os';

/**
 * Where the store lives: --root, else TSBUILD_ROOT, else /var/lib/tsbuild for root,
 * else $XDG_DATA_HOME/tsbuild (default ~/.local/share/tsbuild).
 */
export function storeRoot(flag?: string): string {
  // Absolute, always: runc bundles, mounts and crash recovery compare and pass these paths around.
  if (flag) return resolve(flag);
  if (process.env.TSBUILD_ROOT) return resolve(process.env.TSBUILD_ROOT);
  if (process.getuid && process.getuid() === 0) return '/var/lib/tsbuild';
  const xdg = process.env.XDG_DATA_HOME || join(homedir(), '.local', 'share');
  return join(xdg, 'tsbuild');
}

/** The store's parts, each owned by one module. */
export function storeLayout(root: string) {
  return {
    root,
    content: join(root, 'content'),
    snapshots: join(root, 'snapshots'),
    images: join(root, 'images'),
    cache: join(root, 'cache'),
    state: join(root, 'state'),
    /** Leases on temp paths next to output destinations (src/fsutil/temp-lease.ts). */
    leases: join(root, 'state', 'leases'),
  };
}
export type StoreLayout = ReturnType<typeof storeLayout>;

/**
 * Create the store's folders; true when the store's root did not exist before (a new, empty store). The root
 * is 0700: snapshots hold image filesystems with setuid binaries and device nodes, which no other host user
 * may reach (Docker keeps its data root private the same way).
 */
export async function ensureStore(layout: StoreLayout): Promise<boolean> {
  const created = (await mkdir(layout.root, { recursive: true, mode: 0o700 })) !== undefined;
  const st = await stat(layout.root);
  if ((st.mode & 0o077) !== 0 && st.uid === (process.getuid?.() ?? st.uid)) await chmod(layout.root, 0o700);
  await Promise.all([layout.content, layout.snapshots, layout.images, layout.cache, layout.state].map((d) => mkdir(d, { recursive: true, mode: 0o700 })));
  return created;
}
