/**
 * Layer (de)compression as Duplex streams. gzip runs in `pigz` when it is installed (parallel, off the
 * event loop; `-n` keeps the header free of names and times), else in zlib; zstd runs in the `zstd` CLI
 * (Node 20 has no zstd). The same input, tool and level always give the same bytes.
 * `TSBUILD_GZIP=zlib` forces zlib.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { Duplex, PassThrough } from 'node:stream';
import { createGunzip, createGzip } from 'node:zlib';
import { TsbuildError } from '../errors.js';

export type Compression = 'gzip' | 'zstd' | 'uncompressed';

const found = new Map<string, string | null>();

/** Absolute path of `cmd` on PATH, or null. Cached. */
export function findTool(cmd: string): string | null {
  let hit = found.get(cmd);
  if (hit !== undefined) return hit;
  hit = null;
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(delimiter)) {
    try {
      accessSync(join(dir, cmd), constants.X_OK);
      hit = join(dir, cmd);
      break;
    } catch {
      /* not here */
    }
  }
  found.set(cmd, hit);
  return hit;
}

/** Which gzip implementation compressLayer uses (part of a memo key: the bytes depend on it). */
export function gzipEngine(): 'pigz' | 'zlib' {
  return process.env.TSBUILD_GZIP !== 'zlib' && findTool('pigz') ? 'pigz' : 'zlib';
}

/**
 * The gzip level of a layer when none is asked for (`compression-level=N` is always gzip level N).
 * Not Go's/BuildKit's 6: zlib's level 6 costs ~3.5 s of CPU per 100 MB of source-like files, which on
 * 2 cores cannot match `tar | gzip -1`; level 1 in pigz makes layers faster than that reference (the
 * numbers and the size cost are in ARCHITECTURE.md, "Layer compression level").
 */
export const DEFAULT_GZIP_LEVEL = 1;

/** A compressing stream. gzip level 1–9 (default DEFAULT_GZIP_LEVEL), zstd level 1–22 (default 3). */
export function compressStream(kind: 'gzip' | 'zstd', level?: number): Duplex {
  if (kind === 'gzip') {
    const l = level ?? DEFAULT_GZIP_LEVEL;
    if (gzipEngine() === 'pigz') return toolStream('pigz', ['-c', '-n', `-${Math.max(1, l)}`], 'gzip');
    return createGzip({ level: l, chunkSize: 256 << 10 });
  }
  return toolStream(needTool('zstd'), ['-c', '-q', `-${Math.max(1, level ?? 3)}`, ...(level !== undefined && level > 19 ? ['--ultra'] : []), '-T0'], 'zstd');
}

export function decompressStream(kind: Compression): Duplex {
  if (kind === 'gzip') return createGunzip({ chunkSize: 256 << 10 });
  if (kind === 'zstd') return toolStream(needTool('zstd'), ['-d', '-c', '-q'], 'zstd -d');
  return new PassThrough();
}

/** The compression a layer media type names. */
export function compressionOf(mediaType: string): Compression {
  if (/gzip$/.test(mediaType)) return 'gzip';
  if (/zstd$/.test(mediaType)) return 'zstd';
  if (/\.tar$/.test(mediaType) || /rootfs\.diff\.tar$/.test(mediaType)) return 'uncompressed';
  throw new TsbuildError('UNKNOWN_LAYER_TYPE', `unsupported layer media type ${mediaType}`);
}

function needTool(cmd: string): string {
  const p = findTool(cmd);
  if (!p) throw new TsbuildError('TOOL_MISSING', `${cmd} is not installed`, { hint: `install the Debian package "${cmd}" (scripts/install.sh does)` });
  return p;
}

/** A child process as a Duplex: stdin is the writable side; stdout ends only after a clean exit. */
function toolStream(cmd: string, args: string[], what: string): Duplex {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => child.once('close', (code, signal) => res({ code, signal })));
  child.stdout.pipe(out, { end: false });
  child.stdout.once('end', () => {
    void exited.then(({ code, signal }) => {
      if (code === 0) out.end();
      else out.destroy(new TsbuildError('COMPRESS_FAILED', `${what} failed (${signal ?? `exit ${code}`}): ${stderr.trim()}`));
    });
  });
  child.once('error', (err) => out.destroy(new TsbuildError('COMPRESS_FAILED', `cannot run ${cmd}: ${err.message}`, { cause: err })));
  child.stdin.on('error', () => {}); // EPIPE when the tool died: reported through `out`
  const duplex = Duplex.from({ writable: child.stdin, readable: out });
  duplex.once('close', () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return duplex;
}
