import { closeSync, lstatSync, openSync, readSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import { join, resolve } from 'node:path';
import type { ContentStore } from '../content/types.js';
import { StoreError } from '../errors.js';
import { MediaType, type Layer } from '../image/types.js';
import { LayerSink } from './layer-sink.js';
import { readOpaqueDirs } from './special-files.js';
import { TarWriter, type TarHeader } from './tar-writer.js';

export interface CreateLayerOptions {
  /** An overlay-format layer dir (Snapshotter.layerDir): whiteouts are 0/0 char devices, opaque dirs carry an xattr. */
  layerDir: string;
  content: ContentStore;
  /** Default gzip (pigz when installed, else zlib; see compress.ts). */
  compression?: 'gzip' | 'zstd' | 'none';
  /** gzip level 1–9 (default 6), zstd 1–22 (default 3). */
  level?: number;
  signal?: AbortSignal;
}

/** Files up to this size are read whole with one synchronous read; larger ones are streamed. */
const WHOLE_FILE = 8 << 20;
const WHITEOUT_PREFIX = '.wh.';
const MAX_USTAR_ID = 0o777777;
const OPAQUE_MARKER = '.wh..wh..opq';

interface Item {
  /** Path in the tar, relative, '/'-separated; directories end in '/'. */
  name: string;
  abs: string;
  st: Stats;
  kind: 'dir' | 'file' | 'symlink' | 'whiteout' | 'opaque' | 'node';
}

/**
 * Stream a deterministic tar of `layerDir` into the content store and return the layer.
 *
 * Order: depth-first, each directory before its contents, siblings sorted bytewise by their tar name
 * (an opaque marker first). Headers: USTAR, PAX when a name or link needs it; mode, uid, gid and mtime
 * (whole seconds) from the file, uname/gname empty, no atime/ctime. Hard links within the layer become
 * tar hard links to the first path in that order. Overlay whiteouts become OCI whiteouts: a 0/0 char
 * device `x` → empty file `.wh.x`; an opaque directory → `.wh..wh..opq` inside it. Sockets are skipped.
 * The diffID (uncompressed) and the blob digest are computed in the same pass. Same tree → same bytes.
 */
export async function createLayer(opts: CreateLayerOptions): Promise<Layer> {
  const compression = opts.compression ?? 'gzip';
  const level = opts.level;
  const { signal } = opts;
  signal?.throwIfAborted();
  const layerDir = resolve(opts.layerDir);
  const writer = await opts.content.writer();
  const sink = new LayerSink(writer, compression, level);
  try {
    await tarTree(layerDir, (chunk) => sink.write(chunk), signal);
    const res = await sink.finish();
    const info = await writer.commit();
    if (info.digest !== res.digest || info.size !== res.size) {
      throw new StoreError('LAYER_HASH_MISMATCH', `layer blob ${info.digest} does not match the bytes produced (${res.digest})`);
    }
    return {
      descriptor: { mediaType: compression === 'gzip' ? MediaType.OciLayerGzip : compression === 'zstd' ? MediaType.OciLayerZstd : MediaType.OciLayer, digest: info.digest, size: info.size },
      diffID: res.diffID,
    };
  } catch (err) {
    sink.destroy();
    await writer.abort();
    if (signal?.aborted) throw signal.reason ?? err;
    throw err;
  }
}

/**
 * Stream the deterministic tar of `dir` (format as createLayer describes) to `onChunk`, which may apply
 * back-pressure by returning a promise. A plain directory (no whiteouts, no opaque xattrs, e.g. a
 * mounted rootfs) gives a plain rootfs tar.
 */
export async function tarTree(dir: string, onChunk: (chunk: Buffer) => Promise<void>, signal?: AbortSignal): Promise<void> {
  const layerDir = resolve(dir);
  // Only a directory below the root can be opaque: a layer without one (common for small RUN steps)
  // needs no getfattr process.
  const hasSubdir = readdirSync(layerDir, { withFileTypes: true }).some((e) => e.isDirectory());
  const opaque = hasSubdir ? await readOpaqueDirs(layerDir) : new Set<string>();
  const out = new TarWriter(onChunk);
  const hardlinks = new Map<string, string>();
  for (const item of walk(layerDir, '', opaque)) {
    signal?.throwIfAborted();
    await addEntry(out, item, hardlinks);
  }
  await out.finish();
}

/** Depth-first walk in tar order. */
function* walk(dir: string, prefix: string, opaque: Set<string>): Generator<Item> {
  const items: Item[] = [];
  for (const n of readdirSync(dir)) {
    const abs = join(dir, n);
    const st = lstatSync(abs);
    if (st.isDirectory()) items.push({ name: `${prefix}${n}/`, abs, st, kind: 'dir' });
    else if (st.isFile()) items.push({ name: prefix + n, abs, st, kind: 'file' });
    else if (st.isSymbolicLink()) items.push({ name: prefix + n, abs, st, kind: 'symlink' });
    else if (st.isCharacterDevice() && st.rdev === 0) items.push({ name: prefix + WHITEOUT_PREFIX + n, abs, st, kind: 'whiteout' });
    else if (st.isCharacterDevice() || st.isBlockDevice() || st.isFIFO()) items.push({ name: prefix + n, abs, st, kind: 'node' });
    // sockets are not carried in layers
  }
  items.sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
  if (opaque.has(dir) && prefix !== '') {
    yield { name: prefix + OPAQUE_MARKER, abs: dir, st: lstatSync(dir), kind: 'opaque' };
  }
  for (const it of items) {
    yield it;
    if (it.kind === 'dir') yield* walk(it.abs, it.name, opaque);
  }
}

/** Add one entry. */
async function addEntry(out: TarWriter, it: Item, hardlinks: Map<string, string>): Promise<void> {
  const { st } = it;
  const header: TarHeader = { name: it.name, type: 'file', mode: st.mode, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000), uname: '', gname: '' };
  if (st.uid > MAX_USTAR_ID || st.gid > MAX_USTAR_ID) {
    // USTAR has 6 octal digits for ids: carry big ones in PAX records
    const pax: Record<string, string> = {};
    if (st.uid > MAX_USTAR_ID) pax['uid'] = String(st.uid);
    if (st.gid > MAX_USTAR_ID) pax['gid'] = String(st.gid);
    header.pax = pax;
  }
  switch (it.kind) {
    case 'dir':
      return out.entry({ ...header, type: 'directory' });
    case 'whiteout':
    case 'opaque':
      return out.entry({ ...header, mode: 0o100600, uid: 0, gid: 0, type: 'file', size: 0 });
    case 'symlink':
    case 'node':
    case 'file': {
      if (st.nlink > 1) {
        const key = `${st.dev}:${st.ino}`;
        const first = hardlinks.get(key);
        if (first !== undefined) return out.entry({ ...header, type: 'link', linkname: first, size: 0 });
        hardlinks.set(key, it.name);
      }
      if (it.kind === 'symlink') return out.entry({ ...header, type: 'symlink', linkname: readlinkSync(it.abs) });
      if (it.kind === 'node') {
        const { major, minor } = devNumbers(st.rdev);
        const type = st.isFIFO() ? 'fifo' : st.isBlockDevice() ? 'block-device' : 'character-device';
        return out.entry({ ...header, type, devmajor: major, devminor: minor });
      }
      return addFile(out, header, it);
    }
  }
}

async function addFile(out: TarWriter, header: TarHeader, it: Item): Promise<void> {
  const size = it.st.size;
  if (size <= WHOLE_FILE) {
    const buf = size === 0 ? EMPTY : readSmallFile(it.abs, size);
    return out.entry({ ...header, type: 'file', size }, buf);
  }
  await out.beginFile({ ...header, type: 'file', size });
  const fd = openSync(it.abs, 'r');
  try {
    let off = 0;
    while (off < size) {
      const buf = Buffer.allocUnsafe(Math.min(1 << 20, size - off));
      const n = readSync(fd, buf, 0, buf.byteLength, off);
      if (n === 0) throw changed(it.abs);
      await out.write(n === buf.byteLength ? buf : buf.subarray(0, n));
      off += n;
    }
  } finally {
    closeSync(fd);
  }
  await out.endFile(size);
}

const EMPTY = Buffer.alloc(0);

/**
 * Read a file of the size lstat gave with open + read + close (readFileSync also fstats and reads to EOF).
 * Layers are made from committed snapshots, which nothing writes to; a file that shrank is still an error.
 */
function readSmallFile(path: string, size: number): Buffer {
  const buf = Buffer.allocUnsafe(size);
  const fd = openSync(path, 'r');
  try {
    let off = 0;
    while (off < size) {
      const n = readSync(fd, buf, off, size - off, off);
      if (n === 0) throw changed(path);
      off += n;
    }
  } finally {
    closeSync(fd);
  }
  return buf;
}

function changed(path: string): StoreError {
  return new StoreError('LAYER_CHANGED', `${path} changed size while the layer was being written`);
}

/** Linux dev_t → major/minor (glibc's encoding). */
function devNumbers(rdev: number): { major: number; minor: number } {
  const r = BigInt(rdev);
  return {
    major: Number(((r >> 8n) & 0xfffn) | ((r >> 32n) & ~0xfffn)),
    minor: Number((r & 0xffn) | ((r >> 12n) & ~0xffn)),
  };
}
