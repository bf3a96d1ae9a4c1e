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
 * \0data`, `id\0u\0target\0flags`, `id\0l\0path` (lock, never waits), `id\0r\0path\0remove` (release),
 * `id\0n` (no-op: is it running?); one answer per line, `id OK` or `id E<errno> <message>`, in any order (an
 * unmount answers from a forked child). `id\0x\0cmd\0args…` runs a command (helperSpawn, see `relay`).
 * The helper exits when its stdin closes (this process exited or was killed), so it never outlives its build,
 * and the locks it holds die with it. Not referenced while idle: it never keeps a build's event loop alive.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { unlink } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
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
const SYSCALLS: Partial<Record<NodeJS.Architecture, { mount: number; umount2: number; exitGroup: number }>> = {
  x64: { mount: 165, umount2: 166, exitGroup: 231 },
  arm64: { mount: 40, umount2: 39, exitGroup: 94 },
};

// flock: 6 = LOCK_EX | LOCK_NB. A lock is kept only when the path still names the locked file (dev, ino).
// An unmount runs in a forked child (which first closes its copies of the lock descriptors): umount2 of an
// overlay syncs its upper file system, which can take long while other builds write, and must not hold up
// the other steps' mounts and locks. Answers carry their request's id, so they may come in any order.
const SCRIPT = String.raw`
use strict; use warnings;
my ($m, $u, $x) = @ARGV;
my %locks;
$| = 1;
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
  elsif ($c eq 'n') { $r = 0; }
  elsif ($c eq 'x' && @f >= 1) {
    my $pid = fork();
    if (defined $pid && $pid == 0) { close($_) for values %locks; relay($id, @f); }
    next if defined $pid;
  }
  else { $! = 22; }
  answer($id, $r);
} continue {
  1 while waitpid(-1, 1) > 0; # WNOHANG: reap finished children, so their CPU time counts as this process's
}
1 while waitpid(-1, 0) > 0; # stdin closed: wait for the children still running (their CPU time too)

# A spawned command: runs in a forked child of the helper (the relay), which forks and execs the command with
# stdin /dev/null and its stdout and stderr on pipes, then copies each read of them as hex lines
# ("id o HEX", "id e HEX"; a read of over 2000 bytes goes as "id O HEX" ... "id o HEX": one write(2) each,
# under PIPE_BUF, so lines of relays never mix) and ends with
# "id X code signal" once the command has exited. "id p pid" comes first; an exec that fails answers "id E...".
# The relay and its child end with exit_group(2) ($x): no exit handlers, no stdio flush, and no module to load
# (POSIX::_exit meant a require of POSIX.pm in every relay: ~24 ms of CPU per command, measured).
sub relay {
  my ($id, @cmd) = @_;
  $SIG{CHLD} = 'DEFAULT';
  open(my $ans, '>&', \*STDOUT) or exit 1;
  my ($or, $ow, $er, $ew);
  if (!pipe($or, $ow) || !pipe($er, $ew)) { answer($id, -1); exit 0; }
  my $k = fork();
  if (!defined $k) { answer($id, -1); exit 0; }
  if ($k == 0) {
    close($or); close($er);
    open(STDIN, '<', '/dev/null'); open(STDOUT, '>&', $ow); open(STDERR, '>&', $ew);
    close($ow); close($ew);
    exec { $cmd[0] } @cmd;
    syswrite($ans, "$id E" . (0 + $!) . " $!\n");
    syscall($x, 127);
  }
  close($ow); close($ew); close($ans);
  syswrite(STDOUT, "$id p $k\n");
  my %h = (fileno($or) => [$or, 'o'], fileno($er) => [$er, 'e']);
  while (%h) {
    my $rin = ''; vec($rin, $_, 1) = 1 for keys %h;
    my $n = select(my $rout = $rin, undef, undef, undef);
    if ($n < 0) { next if $! == 4; last; }
    for my $fd (keys %h) {
      next unless vec($rout, $fd, 1);
      my $got = sysread($h{$fd}[0], my $buf, 65536);
      if (!$got) { next if !defined $got && $! == 4; close($h{$fd}[0]); delete $h{$fd}; next; }
      for (my $at = 0; $at < $got; $at += 2000) {
        my $kind = $at + 2000 < $got ? uc($h{$fd}[1]) : $h{$fd}[1];
        syswrite(STDOUT, "$id $kind " . unpack('H*', substr($buf, $at, 2000)) . "\n");
      }
    }
  }
  waitpid($k, 0);
  syswrite(STDOUT, "$id X " . ($? >> 8) . " " . ($? & 127) . "\n");
  syscall($x, 0);
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

/**
 * A command the helper runs for this process (helperSpawn): the part of a ChildProcess the executor uses.
 * Events: `stdout`/`stderr` 'data' (Buffer), 'error' (the command could not be started: `code` is the
 * errno's name, ENOENT for a missing program), 'close' (code, signal) once it has exited and its output is in.
 */
export class HelperChild extends EventEmitter {
  pid: number | undefined;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  readonly stdout = new EventEmitter();
  readonly stderr = new EventEmitter();
  private wanted: NodeJS.Signals | undefined;
  private readonly partOut: Buffer[] = [];
  private readonly partErr: Buffer[] = [];

  /** Signal the command (sent as soon as its pid is known; nothing once it has exited). */
  kill(sig: NodeJS.Signals = 'SIGTERM'): boolean {
    if (this.exitCode !== null || this.signalCode !== null) return false;
    if (this.pid === undefined) {
      this.wanted = sig;
      return true;
    }
    try {
      process.kill(this.pid, sig);
      return true;
    } catch {
      return false;
    }
  }

  /** A line of the relay about this command. */
  onLine(kind: string, rest: string): void {
    if (kind === 'p') {
      this.pid = Number(rest);
      if (this.wanted) this.kill(this.wanted);
    } else if (kind === 'O' || kind === 'E') {
      (kind === 'O' ? this.partOut : this.partErr).push(Buffer.from(rest, 'hex'));
    } else if (kind === 'o' || kind === 'e') {
      // one 'data' per read of the relay, as a pipe of our own would give
      const parts = kind === 'o' ? this.partOut : this.partErr;
      parts.push(Buffer.from(rest, 'hex'));
      (kind === 'o' ? this.stdout : this.stderr).emit('data', parts.length === 1 ? parts[0]! : Buffer.concat(parts));
      parts.length = 0;
    } else if (kind === 'X') {
      const [code, sig] = rest.split(' ').map(Number) as [number, number];
      const name = sig ? (Object.entries(osConstants.signals).find(([, n]) => n === sig)?.[0] as NodeJS.Signals | undefined) : undefined;
      if (name) this.signalCode = name;
      else this.exitCode = sig ? 128 + sig : code;
      this.emit('exit', this.exitCode, this.signalCode);
      this.emit('close', this.exitCode, this.signalCode);
    }
  }

  fail(errno: number, message: string): void {
    const err = new Error(message) as NodeJS.ErrnoException;
    err.errno = errno;
    err.code = Object.entries(osConstants.errno).find(([, n]) => n === errno)?.[0] ?? `E${errno}`;
    this.emit('error', err);
  }
}

class Helper {
  private readonly pending = new Map<number, Pending>();
  private readonly children = new Map<number, HelperChild>();
  private next = 0;
  private buf = '';
  dead = false;
  /** It has answered a request: perl runs the script (helperSpawn is used only then, so a missing perl falls back). */
  alive = false;

  private constructor(private readonly child: ChildProcess) {
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => this.onData(d));
    const die = () => this.die();
    child.on('error', die);
    child.on('exit', die);
    child.stdin!.on('error', die);
    // a relay writes to the same pipe as the helper: its commands end when the last writer has gone
    child.stdout!.on('close', () => {
      const left = [...this.children.values()];
      this.children.clear();
      for (const c of left) c.fail(0, 'the system call helper exited before the command ended');
    });
    this.idle();
  }

  /** Run `cmd` through a relay of the helper (see the script's `relay`); helperSpawn calls it only on a live helper. */
  spawn(cmd: string[]): HelperChild {
    const c = new HelperChild();
    const id = ++this.next;
    this.children.set(id, c);
    c.once('close', () => {
      this.children.delete(id);
      this.settle();
    });
    c.once('error', () => {
      this.children.delete(id);
      this.settle();
    });
    this.busy();
    this.child.stdin!.write([id, 'x', ...cmd].join('\0') + '\n');
    return c;
  }

  static start(): Helper | undefined {
    const nums = SYSCALLS[process.arch];
    if (!nums) return undefined;
    const child = spawn('perl', ['-e', SCRIPT, String(nums.mount), String(nums.umount2), String(nums.exitGroup)], { stdio: ['pipe', 'pipe', 'ignore'] });
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
    this.alive = true;
    this.buf += d;
    for (let i = this.buf.indexOf('\n'); i >= 0; i = this.buf.indexOf('\n')) {
      const line = this.buf.slice(0, i);
      this.buf = this.buf.slice(i + 1);
      const x = /^(\d+) ([poeOEX]) (.*)$/.exec(line);
      if (x) {
        this.children.get(Number(x[1]))?.onLine(x[2]!, x[3]!);
        continue;
      }
      const m = /^(\d+) (?:(OK)|E(\d+) ?(.*))$/.exec(line);
      const c = m?.[3] !== undefined ? this.children.get(Number(m[1])) : undefined;
      if (c) {
        c.fail(Number(m![3]), m![4] || `errno ${m![3]}`);
        continue;
      }
      const p = m ? this.pending.get(Number(m[1])) : undefined;
      if (!m || !p) continue;
      this.pending.delete(Number(m[1]));
      if (m[2]) p.resolve();
      else p.reject(new HelperCallError(Number(m[3]), m[4] || `errno ${m[3]}`));
    }
    this.settle();
  }

  /** Unreferenced once nothing is awaited. */
  private settle(): void {
    if (this.pending.size === 0 && this.children.size === 0) this.idle();
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
  if (!current()?.alive) void helperReady(); // once it has answered, nothing to ask (every RUN and file op calls this)
}

/** Whether the helper runs (started now if it is not; it answers a no-op request). */
export async function helperReady(): Promise<boolean> {
  try {
    return (await request(['n'])) === true;
  } catch {
    return false;
  }
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

/**
 * Run `cmd args…` (PATH searched) as a child of the helper instead of this process: starting it costs a line
 * on a pipe, not a fork of Node (which copies this process's page tables and blocks the event loop until the
 * exec: 20–90 ms on a loaded 2-core machine at 80–380 MB of RSS, measured). stdin is /dev/null, stdout and
 * stderr come back as 'data' events. `undefined`: the helper cannot run it (none, or an argument with a
 * newline or NUL, or it has not answered a request yet, so a missing perl is never found out here): the caller
 * spawns it itself.
 */
export function helperSpawn(cmd: string, args: string[]): HelperChild | undefined {
  if ([cmd, ...args].some((a) => /[\n\0]/.test(a))) return undefined;
  const h = current();
  return h?.alive && !h.dead ? h.spawn([cmd, ...args]) : undefined;
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
