/**
 * Path resolution inside a root directory with chroot semantics: symlinks are followed as if `root` were
 * `/` (an absolute target is relative to root, `..` never climbs above root). The result is a host path
 * that is always `root` itself or below it, whatever symlinks the tree holds (e.g. a hostile rootfs with
 * `/app -> /etc`). Components that do not exist are appended as they are (callers create them).
 *
 * Not safe against a tree that changes concurrently (nothing runs in a rootfs while we copy into it).
 */
import { lstatSync, readlinkSync } from 'node:fs';
import { resolve as resolveHost } from 'node:path';
import { ContextError } from '../errors.js';

const MAX_LINKS = 255;

export interface ResolveOptions {
  /** Follow a symlink in the final component too (default true). */
  followFinal?: boolean;
}

/** Synchronous form of resolveInRoot. */
export function resolveInRootSync(root: string, path: string, opts: ResolveOptions = {}): string {
  const followFinal = opts.followFinal ?? true;
  const hostRoot = resolveHost(root);
  const resolved: string[] = [];
  // Components still to walk, in order (reversed stack: last element is next).
  const pending = splitReversed(path);
  let links = 0;
  while (pending.length > 0) {
    const part = pending.pop()!;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const isFinal = pending.length === 0;
    const candidate = joinHost(hostRoot, [...resolved, part]);
    if (isFinal && !followFinal) {
      resolved.push(part);
      break;
    }
    let isLink = false;
    try {
      isLink = lstatSync(candidate).isSymbolicLink();
    } catch {
      isLink = false; // missing (or not a directory): keep the name as it is
    }
    if (!isLink) {
      resolved.push(part);
      continue;
    }
    if (++links > MAX_LINKS) {
      throw new ContextError('TOO_MANY_SYMLINKS', `${path}: too many levels of symbolic links`);
    }
    const target = readlinkSync(candidate);
    if (target.startsWith('/')) resolved.length = 0;
    // Reversed, so that the target's first component is popped next.
    pending.push(...splitReversed(target));
  }
  return joinHost(hostRoot, resolved);
}

/**
 * Resolve `path` inside `root` (see the module comment). `path` may be absolute or relative; either way it
 * is taken relative to root.
 */
export async function resolveInRoot(root: string, path: string, opts: ResolveOptions = {}): Promise<string> {
  return resolveInRootSync(root, path, opts);
}

/** True when `hostPath` is `root` or inside it (lexically). */
export function isInsideRoot(root: string, hostPath: string): boolean {
  const r = resolveHost(root);
  const p = resolveHost(hostPath);
  return p === r || p.startsWith(r.endsWith('/') ? r : `${r}/`);
}

function parts(p: string): string[] {
  return p.split('/').filter((x) => x !== '' && x !== '.');
}

function splitReversed(p: string): string[] {
  return parts(p).reverse();
}

function joinHost(root: string, comps: string[]): string {
  if (comps.length === 0) return root;
  return root === '/' ? `/${comps.join('/')}` : `${root}/${comps.join('/')}`;
}
