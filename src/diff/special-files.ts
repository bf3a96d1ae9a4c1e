import { execFile } from 'node:child_process';
import { helperSpawn } from '../proc/helper.js';
import { overlayXattrPrefix } from '../proc/userns.js';
import { StoreError } from '../errors.js';

/**
 * The few filesystem operations Node has no API for: reading and setting the overlay opaque xattr
 * (getfattr/setfattr from Debian's `attr` package) and creating device nodes and fifos (mknod(1) from
 * coreutils). Each runs one process for a whole batch, so their cost does not grow with the tree.
 */
/** `trusted.overlay.opaque`, or `user.overlay.opaque` in a user namespace (rootless, overlay `userxattr`). */
export const OPAQUE_XATTR = overlayXattrPrefix() + 'opaque';

const ARG_BUDGET = 96 * 1024; // bytes of path arguments per process, far below ARG_MAX

/**
 * `cmd args…` and its stdout: a child of the system call helper when it runs (no fork of this process, see
 * src/proc/helper.ts helperSpawn), else execFile. Fails as execFile does: ENOENT, or a non-zero exit.
 */
function run(cmd: string, args: string[], what: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, stdout: Buffer, stderr: Buffer) => {
      if (!err) return resolve(stdout);
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        return reject(
          new StoreError('TOOL_MISSING', `${what}: the ${cmd} command is not installed`, {
            cause: err,
            hint: cmd === 'sh' ? 'install coreutils and a POSIX sh' : 'install the attr package (apt-get install attr)',
          }),
        );
      }
      reject(new StoreError('SPECIAL_FILE_FAILED', `${what}: ${cmd} failed: ${stderr.toString().trim() || err.message}`, { cause: err }));
    };
    const child = helperSpawn(cmd, args);
    if (!child) {
      execFile(cmd, args, { encoding: 'buffer', maxBuffer: 256 << 20 }, done);
      return;
    }
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e: Error) => done(e, Buffer.alloc(0), Buffer.alloc(0)));
    child.on('close', (code: number | null, signal: NodeJS.Signals | null) => {
      const failed = code === 0 ? null : new Error(`Command failed: ${cmd} (${signal ?? `exit ${code}`})`);
      done(failed, Buffer.concat(out), Buffer.concat(err));
    });
  });
}

/** Split `items` into batches whose joined length stays within the argument budget. */
function batches<T>(items: T[], size: (t: T) => number): T[][] {
  const out: T[][] = [];
  let cur: T[] = [];
  let bytes = 0;
  for (const it of items) {
    const n = size(it) + 8;
    if (cur.length && bytes + n > ARG_BUDGET) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(it);
    bytes += n;
  }
  if (cur.length) out.push(cur);
  return out;
}

/** getfattr prints names with `\ooo` octal escapes for special bytes (and `\\`). */
function unescapeName(raw: Buffer): string {
  const out: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c === 0x5c && i + 3 < raw.length && /^[0-7]{3}$/.test(raw.toString('latin1', i + 1, i + 4))) {
      out.push(parseInt(raw.toString('latin1', i + 1, i + 4), 8));
      i += 3;
    } else if (c === 0x5c && raw[i + 1] === 0x5c) {
      out.push(0x5c);
      i += 1;
    } else {
      out.push(c);
    }
  }
  return Buffer.from(out).toString('utf8');
}

/** Absolute paths of every directory under `root` (included) whose opaque xattr is "y". One getfattr run. */
export async function readOpaqueDirs(root: string): Promise<Set<string>> {
  const out = await run('getfattr', ['-R', '-P', '-h', '--absolute-names', '-m', '^' + OPAQUE_XATTR.replace(/\./g, '\\.') + '$', '-d', '-e', 'text', '--', root], `reading ${OPAQUE_XATTR} under ${root}`);
  const found = new Set<string>();
  let file: string | undefined;
  let start = 0;
  while (start < out.length) {
    let end = out.indexOf(0x0a, start);
    if (end < 0) end = out.length;
    const line = out.subarray(start, end);
    start = end + 1;
    if (line.subarray(0, 8).toString('latin1') === '# file: ') file = unescapeName(line.subarray(8));
    else if (file !== undefined && line.toString('latin1') === `${OPAQUE_XATTR}="y"`) found.add(file);
  }
  return found;
}

/** Mark directories opaque (trusted.overlay.opaque=y), without following symlinks. */
export async function setOpaque(dirs: string[]): Promise<void> {
  for (const b of batches(dirs, (p) => Buffer.byteLength(p))) {
    await run('setfattr', ['-h', '-n', OPAQUE_XATTR, '-v', 'y', '--', ...b], `marking ${b.length} director${b.length === 1 ? 'y' : 'ies'} opaque`);
  }
}

export interface SpecialNode {
  path: string;
  /** c: character device, b: block device, p: fifo */
  type: 'c' | 'b' | 'p';
  major: number;
  minor: number;
}

/** Create device nodes and fifos (an overlay whiteout is a `c 0 0` node). The paths must not exist. */
export async function makeNodes(nodes: SpecialNode[]): Promise<void> {
  const script = 'while [ $# -gt 0 ]; do if [ "$2" = p ]; then mknod -- "$1" p || exit 1; else mknod -- "$1" "$2" "$3" "$4" || exit 1; fi; shift 4; done';
  for (const b of batches(nodes, (n) => Buffer.byteLength(n.path) + 24)) {
    const args = b.flatMap((n) => [n.path, n.type, String(n.major), String(n.minor)]);
    await run('sh', ['-c', script, 'mknod-batch', ...args], `creating ${b.length} special file${b.length === 1 ? '' : 's'}`);
  }
}
