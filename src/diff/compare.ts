import { closeSync, lstatSync, openSync, readFileSync, readSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import { join, resolve } from 'node:path';
import tar from 'tar-stream';
import type { ContentStore } from '../content/types.js';
import { StoreError } from '../errors.js';
import { MediaType, type Layer } from '../image/types.js';
import { LayerSink } from './layer-sink.js';
import { readOpaqueDirs } from './special-files.js';

export interface CreateLayerOptions {
  /** An overlay-format layer dir (Snapshotter.layerDir): whiteouts are 0/0 char devices, opaque dirs carry an xattr. */
  layerDir: string;
  content: ContentStore;
  /** Default gzip. */
  compression?: 'gzip' | 'none';
  /** gzip level 1–9, default 6. */
  level?: number;
  signal?: AbortSignal;
}

/** Files up to this size are read whole with one synchronous read; larger ones are streamed. */
const WHOLE_FILE = 8 << 20;
/** Tar bytes queued ahead of the consumer before the producer waits. */
const HIGH_WATER = 8 << 20;
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
  const level = opts.level ?? 6;
  const { signal } = opts;
  signal?.throwIfAborted();
  const layerDir = resolve(opts.layerDir);
  const opaque = await readOpaqueDirs(layerDir);
  const writer = await opts.content.writer();
  const sink = new LayerSink(writer, compression, level);
  const pack = tar.pack();

  let produced = 0;
  let consumed = 0;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const waitForConsumer = () =>
    new Promise<void>((resolve) => {
      wake = resolve;
    });
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };

  /** Count queued bytes; wait while the consumer is too far behind. */
  const throttle = async (bytes: number) => {
    produced += bytes;
    while (produced - consumed > HIGH_WATER && !failure) await waitForConsumer();
    if (failure) throw failure;
  };

  const consume = async () => {
    try {
      for await (const chunk of pack) {
        consumed += (chunk as Buffer).byteLength;
        if (produced - consumed < HIGH_WATER / 2) notify();
        await sink.write(chunk as Buffer);
      }
    } catch (err) {
      failure ??= err;
      notify();
      throw err;
    }
  };

  const produce = async () => {
    try {
      for (const item of walk(layerDir, '', opaque)) {
        if (failure) return;
        signal?.throwIfAborted();
        produced += 512;
        await addEntry(pack, item, hardlinks, throttle);
      }
      pack.finalize();
    } catch (err) {
      failure ??= err;
      pack.destroy(err as Error);
      throw err;
    }
  };

  const hardlinks = new Map<string, string>();
  try {
    await Promise.all([produce(), consume()]);
    const res = await sink.finish();
    const info = await writer.commit();
    if (info.digest !== res.digest || info.size !== res.size) {
      throw new StoreError('LAYER_HASH_MISMATCH', `layer blob ${info.digest} does not match the bytes produced (${res.digest})`);
    }
    return {
      descriptor: { mediaType: compression === 'gzip' ? MediaType.OciLayerGzip : MediaType.OciLayer, digest: info.digest, size: info.size },
      diffID: res.diffID,
    };
  } catch (err) {
    sink.destroy();
    await writer.abort();
    if (signal?.aborted) throw signal.reason ?? err;
    throw err;
  }
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

type EntryHeader = Partial<tar.Header> & { name: string };
type Throttle = (bytes: number) => Promise<void>;

/** Add one entry to the pack. */
async function addEntry(pack: tar.Pack, it: Item, hardlinks: Map<string, string>, throttle: Throttle): Promise<void> {
  const { st } = it;
  // Passing the full st_mode (type bits included) keeps tar-stream from replacing a 0 mode with its default.
  const header: EntryHeader = { name: it.name, mode: st.mode, uid: st.uid, gid: st.gid, mtime: new Date(Math.floor(st.mtimeMs / 1000) * 1000), uname: '', gname: '' };
  if (st.uid > MAX_USTAR_ID || st.gid > MAX_USTAR_ID) {
    // USTAR has 6 octal digits for ids (tar-stream would clamp them): carry big ones in PAX records
    const pax: Record<string, string> = {};
    if (st.uid > MAX_USTAR_ID) pax['uid'] = String(st.uid);
    if (st.gid > MAX_USTAR_ID) pax['gid'] = String(st.gid);
    header.pax = pax;
  }
  switch (it.kind) {
    case 'dir':
      pack.entry({ ...header, type: 'directory' });
      return;
    case 'whiteout':
    case 'opaque':
      pack.entry({ ...header, mode: 0o100600, uid: 0, gid: 0, type: 'file', size: 0 }, Buffer.alloc(0));
      return;
    case 'symlink':
    case 'node':
    case 'file': {
      if (st.nlink > 1) {
        const key = `${st.dev}:${st.ino}`;
        const first = hardlinks.get(key);
        if (first !== undefined) {
          pack.entry({ ...header, type: 'link', linkname: first, size: 0 });
          return;
        }
        hardlinks.set(key, it.name);
      }
      if (it.kind === 'symlink') {
        pack.entry({ ...header, type: 'symlink', linkname: readlinkSync(it.abs) });
        return;
      }
      if (it.kind === 'node') {
        const { major, minor } = devNumbers(st.rdev);
        const type = st.isFIFO() ? 'fifo' : st.isBlockDevice() ? 'block-device' : 'character-device';
        pack.entry({ ...header, type, devmajor: major, devminor: minor });
        return;
      }
      return addFile(pack, header, it, throttle);
    }
  }
}

async function addFile(pack: tar.Pack, header: EntryHeader, it: Item, throttle: Throttle): Promise<void> {
  const size = it.st.size;
  if (size <= WHOLE_FILE) {
    const buf = size === 0 ? Buffer.alloc(0) : readFileSync(it.abs);
    if (buf.byteLength !== size) throw changed(it.abs);
    pack.entry({ ...header, type: 'file', size }, buf);
    await throttle(size);
    return;
  }
  const entry = pack.entry({ ...header, type: 'file', size });
  const fd = openSync(it.abs, 'r');
  try {
    let off = 0;
    while (off < size) {
      const buf = Buffer.allocUnsafe(Math.min(1 << 20, size - off));
      const n = readSync(fd, buf, 0, buf.byteLength, off);
      if (n === 0) throw changed(it.abs);
      entry.write(n === buf.byteLength ? buf : buf.subarray(0, n));
      off += n;
      await throttle(n);
    }
  } finally {
    closeSync(fd);
  }
  entry.end(undefined);
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
