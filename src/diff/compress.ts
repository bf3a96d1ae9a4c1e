/**
 * Layer (de)compression as Duplex streams. gzip of an input up to SMALL_GZIP_BYTES runs in zlib in this
 * process (one call on the libuv threadpool: no process to start); a larger input runs in `pigz` when it is
 * installed (parallel, off the event loop; `-n` keeps the header free of names and times), else in zlib.
 * zstd runs in the `zstd` CLI (Node 20 has no zstd). The same input, tools and level always give the same
 * bytes: the compressor is chosen by the input's size, never by timing or load.
 * `TSBUILD_GZIP=zlib` forces zlib at every size.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { Duplex, PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { crc32, createGunzip, createGzip, gzip } from 'node:zlib';
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

/**
 * gzip inputs up to this many bytes are compressed by zlib in this process, larger ones by pigz when it is
 * installed. Below it, starting pigz (a fork of this process, ~25 ms on the main thread under load) costs
 * more than zlib takes; above it, pigz's threads win. A rule on the input alone, so the bytes of a layer's
 * gzip do not depend on when or where it is made (at commit or at export, see ARCHITECTURE.md).
 */
export const SMALL_GZIP_BYTES = 4 << 20;

/** Which gzip implementation compresses inputs above SMALL_GZIP_BYTES (part of a memo key: the bytes depend on it). */
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

/**
 * Bits of entropy per byte at or above which a whole small input is taken to be already compressed or
 * encrypted (random to deflate: at most (8 - 7.99) / 8 = 0.13% for Huffman coding to gain).
 */
export const INCOMPRESSIBLE_BITS = 7.99;

/**
 * The gzip level of a whole input of at most SMALL_GZIP_BYTES when none is asked for: DEFAULT_GZIP_LEVEL,
 * or 0 (storedGzip) when its bytes are as random as compressed data (a layer of .jar/.gz/.png files, random
 * bytes): zlib's level 1 spends ~20 ms of CPU per MiB on such bytes to save nothing, storedGzip ~2.5 ms (a
 * copy into fresh memory and the CRC). A rule on the bytes alone (one histogram pass, ~1.5-2 ms per MiB), so
 * an input always gets the same gzip.
 * Larger inputs stream (the rule would need all of them first) and get DEFAULT_GZIP_LEVEL.
 */
export function defaultGzipLevel(data: Uint8Array): number {
  if (data.byteLength < 4096) return DEFAULT_GZIP_LEVEL;
  const counts = new Uint32Array(256);
  const size = data.byteLength; // read once: the getter in the loop's test costs ~8x the loop
  for (let i = 0; i < size; i++) counts[data[i]!]!++;
  let bits = 0;
  for (const n of counts) if (n) bits -= (n / size) * Math.log2(n / size);
  return bits >= INCOMPRESSIBLE_BITS ? 0 : DEFAULT_GZIP_LEVEL;
}

/**
 * A compressing stream. gzip level 1–9 (default: defaultGzipLevel of an input up to SMALL_GZIP_BYTES,
 * DEFAULT_GZIP_LEVEL above), zstd level 1–22 (default 3).
 */
export function compressStream(kind: 'gzip' | 'zstd', level?: number): Duplex {
  if (kind === 'gzip') {
    const l = level ?? DEFAULT_GZIP_LEVEL;
    if (gzipEngine() === 'zlib') return sizedGzip(level, () => createGzip({ level: l, chunkSize: 256 << 10 }));
    const pigz = findTool('pigz')!;
    return sizedGzip(level, () => toolStream(pigz, ['-c', '-n', `-${Math.max(1, l)}`], 'gzip'));
  }
  return toolStream(needTool('zstd'), ['-c', '-q', `-${Math.max(1, level ?? 3)}`, ...(level !== undefined && level > 19 ? ['--ultra'] : []), '-T0'], 'zstd');
}

const gzipAsync = promisify(gzip);

/**
 * gzip of a whole small input (≤ SMALL_GZIP_BYTES) in zlib: the bytes compressStream('gzip', level) gives
 * for it (zlib's output does not depend on how its input is split). No level: defaultGzipLevel(data).
 */
export async function gzipSmall(data: Uint8Array, level?: number): Promise<Buffer> {
  const l = level ?? defaultGzipLevel(data);
  if (l === 0) return storedGzip(data);
  return gzipAsync(data, { level: l, chunkSize: 256 << 10 });
}

/** Bytes in one stored deflate block at most (its LEN field is 16 bits). */
const STORED_BLOCK = 65535;

/**
 * gzip level 0 made here, not by zlib: zlib's stored blocks are cut where its output buffer ends, so its bytes
 * depend on how it is called; these depend on the input alone. A gzip member (RFC 1952: no name, mtime 0,
 * OS unix) holding one stored deflate block (RFC 1951, BTYPE 00) per 65,535 input bytes, the last one
 * final (an empty input: one empty final block), then CRC-32 and the size mod 2^32.
 */
export function storedGzip(data: Uint8Array): Buffer {
  const blocks = Math.max(1, Math.ceil(data.byteLength / STORED_BLOCK));
  const out = Buffer.allocUnsafe(10 + blocks * 5 + data.byteLength + 8);
  out.set([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3], 0);
  let o = 10;
  for (let b = 0; b < blocks; b++) {
    const start = b * STORED_BLOCK;
    const len = Math.min(STORED_BLOCK, data.byteLength - start);
    out[o] = b === blocks - 1 ? 1 : 0; // BFINAL, BTYPE 00; the rest of the byte pads to the boundary
    out.writeUInt16LE(len, o + 1);
    out.writeUInt16LE(~len & 0xffff, o + 3);
    out.set(data.subarray(start, start + len), o + 5);
    o += 5 + len;
  }
  out.writeUInt32LE(crc32(data) >>> 0, o);
  out.writeUInt32LE(data.byteLength % 2 ** 32, o + 4);
  return out;
}

/**
 * gzip that holds its input until it passes SMALL_GZIP_BYTES: an input that ends before is compressed in one
 * zlib call (gzipSmall, at `level` or its default rule); a larger one streams through `large()` (pigz, or
 * zlib's stream when TSBUILD_GZIP=zlib), the held chunks first.
 */
function sizedGzip(level: number | undefined, large: () => Duplex): Duplex {
  return Duplex.from(async function* (source: AsyncIterable<Buffer>) {
    const it = source[Symbol.asyncIterator]();
    const held: Buffer[] = [];
    let size = 0;
    for (;;) {
      const r = await it.next();
      if (r.done) {
        yield await gzipSmall(held.length === 1 ? held[0]! : Buffer.concat(held, size), level);
        return;
      }
      held.push(r.value);
      size += r.value.byteLength;
      if (size > SMALL_GZIP_BYTES) break;
    }
    const rest = async function* () {
      yield* held.splice(0);
      for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
    };
    const tool = large();
    const out = new PassThrough({ highWaterMark: 1 << 20 });
    const done = pipeline(Readable.from(rest()), tool, out);
    done.catch(() => {}); // observed below
    try {
      for await (const c of out) yield c as Buffer;
      await done;
    } finally {
      tool.destroy();
    }
  });
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
