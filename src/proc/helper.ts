/**
 * The system calls Node does not have, made by one small perl process per tsbuild process (perl's `syscall`
 * and `flock`), started on first use, that reads requests on stdin:
 * - mount(2) and umount2(2) (src/snapshot/mount.ts): a file op's mount and unmount cost a line on a pipe
 *   instead of two processes (mount(8) and umount(8): each a fork of Node, an exec, libmount, libblkid;
 *   ~30–100 ms on a loaded 2-core machine);
 * - a non-blocking flock(2) held by the helper (src/fsutil/flock.ts): a step lock nobody else holds costs no
 *   flock(1) process.
 *
 * A seam, not a second way: every function answers `undefined` when the helper cannot do the request (no
 * perl, an architecture whose syscall numbers are not known here, a mount option that is neither a plain
 * flag nor the file system's own, a path with a newline, the helper died), and the caller then runs
 * mount(8)/umount(8)/flock(1) as before. perl-base is Essential in Debian; elsewhere the fallback keeps
 * everything working.
 *
 * Protocol: one request per line, fields separated by NUL, the first an id: `id\0m\0source\0target\0type\0flags
 * \0data`, `id\0u\0target\0flags`, `id\0l\0path` (lock, never waits), `id\0r\0path\0remove` (release); one
 * answer per line, `id OK` or `id E<errno> <message>`, in any order (an unmount answers from a forked child).
 * The helper exits when its stdin closes (this process exited or was killed), so it never outlives its build,
 * and the locks it holds die with it. Not referenced while idle: it never keeps a build's event loop alive.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { unlink } from 'node:fs/promises';
import { resolve } from 'node:path';

/** mount(2) flags (linux/mount.h) for the generic options mount(8) turns into flags. */
export const MS_RDONLY = 1;
export const MS_NOSUID = 2;
export const MS_NODEV = 4;
export const MS_NOEXEC = 8;
export const MS_REMOUNT = 32;
export const MS_BIND = 4096;
/** umount2(2) flag: detach now, clean up when no longer busy (umount -l). */
export const MNT_DETACH = 2;

/** System call numbers: x86_64 (arch/x86/entry/syscalls) and the generic table arm64 uses. */
const SYSCALLS: Partial<Record<NodeJS.Architecture, { mount: number; umount2: number }>> = {
  x64: { mount: 165, umount2: 166 },
  arm64: { mount: 40, umount2: 39 },
};

// flock: 6 = LOCK_EX | LOCK_NB. A lock is kept only when the path still names the locked file (dev, ino).
// An unmount runs in a forked child (which first closes its copies of the lock descriptors): umount2 of an
// overlay syncs its upper file system, which can take long while other builds write, and must not hold up
// the other steps' mounts and locks. Answers carry their request's id, so they may come in any order.
const SCRIPT = String.raw`
use strict; use warnings;
my ($m, $u) = @ARGV;
my %locks;
$| = 1;
$SIG{CHLD} = 'IGNORE';
sub answer { my ($id, $r) = @_; print $r == -1 ? "$id E" . (0 + $!) . " $!\n" : "$id OK\n"; }
while (my $l = <STDIN>) {
  chomp $l;
  my @f = split /\0/, $l, -1;
  my $id = shift @f;
  my $c = shift @f // '';
  my $r = -1;
  if ($c eq 'u' && @f == 2) {
    my $pid = fork();
    if (defined $pid && $pid == 0) {
      close($_) for values %locks;
      answer($id, syscall($u, $f[0], 0 + $f[1]));
      exit 0;
    }
    next if defined $pid;
    $r = syscall($u, $f[0], 0 + $f[1]);
  }
  elsif ($c eq 'm' && @f == 5) { $r = syscall($m, $f[0], $f[1], $f[2], 0 + $f[3], $f[4]); }
  elsif ($c eq 'l' && @f == 1 && !$locks{$f[0]}) {
    if (open(my $fh, '>>', $f[0])) {
      if (flock($fh, 6)) {
        my @a = stat($fh); my @b = stat($f[0]);
        if (@b && $a[0] == $b[0] && $a[1] == $b[1]) { $locks{$f[0]} = $fh; $r = 0; } else { close($fh); $! = 11; }
      } else { my $e = 0 + $!; close($fh); $! = $e; }
    }
  }
  elsif ($c eq 'r' && @f == 2) {
    my $fh = delete $locks{$f[0]};
    if ($fh) { unlink($f[0]) if $f[1]; close($fh); $r = 0; } else { $! = 9; }
  }
  else { $! = 22; }
  answer($id, $r);
}
`;

/** The system call failed: errno and perl's message for it. */
export class HelperCallError extends Error {
  constructor(
    readonly errno: number,
    message: string,
  ) {
    super(message);
  }
}

interface Pending {
  resolve: () => void;
  reject: (err: Error) => void;
}

class Helper {
  private readonly pending = new Map<number, Pending>();
  private next = 0;
  private buf = '';
  dead = false;

  private constructor(private readonly child: ChildProcess) {
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => this.onData(d));
    const die = () => this.die();
    child.on('error', die);
    child.on('exit', die);
    child.stdin!.on('error', die);
    this.idle();
  }

  static start(): Helper | undefined {
    const nums = SYSCALLS[process.arch];
    if (!nums) return undefined;
    const child = spawn('perl', ['-e', SCRIPT, String(nums.mount), String(nums.umount2)], { stdio: ['pipe', 'pipe', 'ignore'] });
    spawned++;
    return new Helper(child);
  }

  call(fields: (string | number)[]): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.dead) return reject(new Error('system call helper is gone'));
      const id = ++this.next;
      this.pending.set(id, { resolve, reject });
      this.busy();
      this.child.stdin!.write([id, ...fields].join('\0') + '\n');
    });
  }

  private onData(d: string): void {
    this.buf += d;
    for (let i = this.buf.indexOf('\n'); i >= 0; i = this.buf.indexOf('\n')) {
      const line = this.buf.slice(0, i);
      this.buf = this.buf.slice(i + 1);
      const m = /^(\d+) (?:(OK)|E(\d+) ?(.*))$/.exec(line);
      const p = m ? this.pending.get(Number(m[1])) : undefined;
      if (!m || !p) continue;
      this.pending.delete(Number(m[1]));
      if (m[2]) p.resolve();
      else p.reject(new HelperCallError(Number(m[3]), m[4] || `errno ${m[3]}`));
    }
    if (this.pending.size === 0) this.idle();
  }

  /** Close its stdin (it exits: its locks die with it) and wait until it has exited (SIGKILL after `graceMs`). */
  stop(graceMs: number): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      this.child.ref();
      const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
      this.child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      this.child.stdin!.end();
    });
  }

  private die(): void {
    if (this.dead) return;
    this.dead = true;
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.reject(new Error('system call helper exited'));
  }

  /** Referenced only while an answer is awaited. */
  private busy(): void {
    this.child.ref();
    (this.child.stdout as unknown as { ref(): void }).ref();
  }

  private idle(): void {
    this.child.unref();
    (this.child.stdout as unknown as { unref(): void }).unref();
    (this.child.stdin as unknown as { unref?(): void }).unref?.();
  }
}

let helper: Helper | undefined;
/** Set once the helper could not start or died: the tools for the rest of this process. */
let unavailable = false;
let spawned = 0;

/** How many helper processes this process started (tests: one per process, whatever the number of mounts). */
export function helperSpawns(): number {
  return spawned;
}

/** The running helper (started on first use), or undefined (the callers' tools). TSBUILD_HELPER=0 turns it off. */
function current(): Helper | undefined {
  if (unavailable || process.env.TSBUILD_HELPER === '0') return undefined;
  if (!helper || helper.dead) {
    helper = Helper.start();
    if (!helper) unavailable = true;
  }
  return helper;
}

/**
 * Start the helper now if it is not running, so that its start (a fork of this process and perl's) overlaps
 * what the caller does before its first mount. Never fails: a helper that cannot start is found out then.
 */
export function startHelper(): void {
  current();
}

/**
 * The build is over: stop the helper and wait for it to exit, so that no process of the build outlives it
 * (the next use in this process starts a new one). Never fails.
 */
export async function stopHelper(): Promise<void> {
  const h = helper;
  helper = undefined;
  if (h) await h.stop(2000).catch(() => {});
}

/**
 * Run one request on the helper. `undefined`: the helper could not answer (it is missing or died before
 * answering), the caller uses its tool. A failed system call rejects with HelperCallError.
 */
async function request(fields: (string | number)[]): Promise<true | undefined> {
  if (fields.some((f) => typeof f === 'string' && /[\n\0]/.test(f))) return undefined;
  const h = current();
  if (!h) return undefined;
  try {
    await h.call(fields);
    return true;
  } catch (err) {
    if (err instanceof HelperCallError) throw err;
    // perl missing (spawn ENOENT) or gone: never try it again in this process
    unavailable = true;
    return undefined;
  }
}

/** Generic options mount(8) turns into flags; anything else is the file system's own (mount data). */
const FLAG_OPTIONS: Record<string, number> = { ro: MS_RDONLY, rw: 0, nosuid: MS_NOSUID, nodev: MS_NODEV, noexec: MS_NOEXEC };
/** Generic options this seam does not translate (mount(8) does). */
const OTHER_GENERIC = /^(?:r?bind|remount|move|r?(?:shared|slave|private|unbindable)|sync|async|dirsync|(?:no)?(?:atime|diratime|relatime|strictatime|lazytime|suid|dev|exec|user|users|auto|mand)|defaults|loop.*|x-.*)$/;

/** `mount -t type -o options source target` through the helper, or `undefined` (use mount(8)). */
export async function helperMount(type: string, source: string, target: string, options: string[]): Promise<true | undefined> {
  let flags = 0;
  const data: string[] = [];
  for (const o of options) {
    const f = FLAG_OPTIONS[o];
    if (f !== undefined) flags |= f;
    else if (OTHER_GENERIC.test(o)) return undefined;
    else data.push(o);
  }
  return request(['m', source, resolve(target), type, flags, data.join(',')]);
}

/** `mount --bind source target` through the helper, or `undefined`. */
export function helperBind(source: string, target: string): Promise<true | undefined> {
  return request(['m', resolve(source), resolve(target), '', MS_BIND, '']);
}

/** `mount -o remount,bind,ro target` through the helper, or `undefined`. */
export function helperRemountReadonly(target: string): Promise<true | undefined> {
  return request(['m', '', resolve(target), '', MS_REMOUNT | MS_BIND | MS_RDONLY, '']);
}

/** `umount [-l] target` through the helper, or `undefined` (use umount(8)). */
export function helperUnmount(target: string, lazy: boolean): Promise<true | undefined> {
  return request(['u', resolve(target), lazy ? MNT_DETACH : 0]);
}

/**
 * Take the exclusive flock(2) on `path` (created if missing) without waiting, held by the helper until
 * `helperUnlock`. `true`: held, and `path` still names the locked file; `undefined`: not taken (someone holds
 * it, the path was replaced meanwhile, or there is no helper): the caller waits its usual way.
 */
export async function helperLock(path: string): Promise<true | undefined> {
  try {
    return await request(['l', resolve(path)]);
  } catch {
    return undefined;
  }
}

/**
 * Release a lock `helperLock` took; with `remove`, the file is unlinked first (while still held). A helper that
 * died took its locks with it: then only the file is removed.
 */
export async function helperUnlock(path: string, remove: boolean): Promise<void> {
  const done = await request(['r', resolve(path), remove ? 1 : 0]).catch(() => undefined);
  if (!done && remove) await unlink(path).catch(() => {});
}
