/**
 * Whether this process runs in a user namespace other than the initial one (a rootless build: tsbuild
 * re-executed itself under `unshare --user --map-root-user --map-auto`). Overlayfs then needs the
 * `userxattr` mount option and keeps its opaque marks in `user.overlay.*` instead of `trusted.overlay.*`.
 */
import { readFileSync } from 'node:fs';

let cached: boolean | undefined;

export function inUserNamespace(): boolean {
  if (cached === undefined) {
    let map = '';
    try {
      map = readFileSync('/proc/self/uid_map', 'utf8');
    } catch {
      map = '';
    }
    // The initial namespace maps every id onto itself: "0 0 4294967295".
    cached = map !== '' && !/^\s*0\s+0\s+4294967295\s*$/.test(map);
  }
  return cached;
}

/** The overlayfs xattr namespace in use here: `trusted.overlay.` (root) or `user.overlay.` (user namespace). */
export function overlayXattrPrefix(): string {
  return inUserNamespace() ? 'user.overlay.' : 'trusted.overlay.';
}
