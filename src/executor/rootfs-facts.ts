/**
 * What a step's preparation reads from its rootfs (the user from /etc/passwd and /etc/group, whether the
 * working directory and the mount points exist), memoized per overlay lower stack, so that a step whose
 * answers are known needs no mount on the host: runc then mounts the overlay itself, inside the
 * container's mount namespace (see runc.ts).
 *
 * Facts are recorded from a mounted rootfs (the slow path) and hold for a lower stack `L1:...:Ln`. They
 * carry over to a stack `U1:...:Uk:L1:...:Ln` (the next step: the previous step's committed upper dir on
 * top, maybe COPY layers above it) when no Ui has any of the top-level names the facts looked at (`etc`,
 * `proc`, the cwd's first component, ...): an overlay layer without an entry for a name leaves everything
 * below that name as the lowers show it. A whiteout or an opaque directory is an entry, so it ends the carry-over too. Facts are recorded
 * only for paths with no symlink in them, so the top-level name is all a path depends on.
 *
 * Lower dirs are committed snapshots and never change (overlayfs forbids changing a lower in use).
 */
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ResolvedUser } from '../fsutil/passwd.js';
import type { Mount } from '../snapshot/types.js';

/** A single writable overlay mount, taken apart. */
export interface OverlayRootfs {
  lowers: string[];
  upper: string;
  /** The mount's options as given (passed on to runc unchanged). */
  options: string[];
}

/** The overlay of `mounts` when it is exactly one writable overlay with plain (unescaped) paths. */
export function writableOverlay(mounts: Mount[]): OverlayRootfs | undefined {
  if (mounts.length !== 1) return undefined;
  const m = mounts[0]!;
  if (m.type !== 'overlay') return undefined;
  let lowers: string[] | undefined;
  let upper: string | undefined;
  let work = false;
  for (const o of m.options) {
    if (o.includes('\\')) return undefined; // escaped ':' or ',': not worth parsing
    if (o.startsWith('lowerdir=')) lowers = o.slice('lowerdir='.length).split(':');
    else if (o.startsWith('upperdir=')) upper = o.slice('upperdir='.length);
    else if (o.startsWith('workdir=')) work = true;
  }
  if (!lowers || lowers.some((l) => !l.startsWith('/')) || !upper?.startsWith('/') || !work) return undefined;
  return { lowers, upper, options: [...m.options] };
}

/** The kind of what is at a path, when no component of the path is a symlink. */
export type PlainKind = 'dir' | 'file' | 'other' | 'absent';

export interface RootfsFacts {
  /** USER value → resolved user (only when /etc/passwd and /etc/group had no symlink in their path). */
  users: Map<string, ResolvedUser>;
  /** Absolute path → what is there (only paths with no symlink in them). */
  paths: Map<string, PlainKind>;
}

const MAX_ENTRIES = 256;

export class RootfsFactsMemo {
  private readonly byStack = new Map<string, RootfsFacts>();

  /** The facts of the lower stack `lowers`, when known or derivable from the stack below its top. */
  async lookup(lowers: string[]): Promise<RootfsFacts | undefined> {
    const key = lowers.join(':');
    const known = this.byStack.get(key);
    if (known) return known;
    // The nearest known stack below (e.g. under a RUN's layer and the COPY layers on top of it).
    let k = 1;
    let below: RootfsFacts | undefined;
    for (; k < lowers.length && !below; k++) below = this.byStack.get(lowers.slice(k).join(':'));
    if (!below) return undefined;
    const names = topNames(below);
    for (const layer of lowers.slice(0, k - 1)) {
      for (const name of names) if (await exists(join(layer, name))) return undefined;
    }
    const derived: RootfsFacts = { users: new Map(below.users), paths: new Map(below.paths) };
    this.remember(key, derived);
    return derived;
  }

  /** Facts read from the mounted rootfs of stack `lowers` (before anything was created in it). */
  record(lowers: string[], facts: RootfsFacts): void {
    const key = lowers.join(':');
    const prev = this.byStack.get(key);
    if (!prev) {
      this.remember(key, facts);
      return;
    }
    for (const [k, v] of facts.users) prev.users.set(k, v);
    for (const [k, v] of facts.paths) prev.paths.set(k, v);
  }

  private remember(key: string, facts: RootfsFacts): void {
    if (this.byStack.size >= MAX_ENTRIES) this.byStack.delete(this.byStack.keys().next().value!);
    this.byStack.set(key, facts);
  }
}

/** The top-level names facts depend on: `etc` for users, the first component of every path. */
function topNames(f: RootfsFacts): Set<string> {
  const out = new Set<string>();
  if (f.users.size > 0) out.add('etc');
  for (const p of f.paths.keys()) {
    const first = p.split('/').find((c) => c !== '');
    if (first) out.add(first);
  }
  return out;
}

/**
 * What is at absolute path `p` inside `rootDir` (a mounted rootfs), or undefined when a component of it
 * is a symlink or a non-directory (its answer would depend on more than the path's own names).
 */
export async function plainKind(rootDir: string, p: string): Promise<PlainKind | undefined> {
  const parts = p.split('/').filter((c) => c !== '' && c !== '.');
  if (parts.includes('..')) return undefined;
  let host = rootDir;
  for (let i = 0; i < parts.length; i++) {
    host = join(host, parts[i]!);
    let st;
    try {
      st = await lstat(host);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
      return undefined;
    }
    if (st.isSymbolicLink()) return undefined;
    const last = i === parts.length - 1;
    if (!last && !st.isDirectory()) return undefined;
    if (last) return st.isDirectory() ? 'dir' : st.isFile() ? 'file' : 'other';
  }
  return 'dir'; // the root itself
}

/** Whether `dir` is an empty directory. */
export async function isEmptyDir(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).length === 0;
  } catch {
    return false;
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch (err) {
    // Anything but "no such entry" counts as present: the carry-over is then refused, which is safe.
    return (err as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}
