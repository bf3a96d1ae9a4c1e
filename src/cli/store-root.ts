import { join } from 'node:path';
import { homedir } from 'node:os';

/**
 * Where the store lives: --root, else TSBUILD_ROOT, else /var/lib/tsbuild for root,
 * else $XDG_DATA_HOME/tsbuild (default ~/.local/share/tsbuild).
 */
export function storeRoot(flag?: string): string {
  if (flag) return flag;
  if (process.env.TSBUILD_ROOT) return process.env.TSBUILD_ROOT;
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
  };
}
export type StoreLayout = ReturnType<typeof storeLayout>;
