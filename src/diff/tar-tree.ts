/**
 * The deterministic tar of a directory tree, as a synchronous generator of 1 MiB chunks: the one place
 * that walks a layer dir and encodes it. Synchronous on purpose (one lstat, open, read and close per
 * file, data read straight into the tar chunk, no promise per file): it runs on a worker thread
 * (tar-worker.ts), where blocking is free, or on the main thread between awaits (tar-producer.ts).
 *
 * Order: depth-first, each directory before its contents, siblings sorted bytewise by their tar name
 * (an opaque marker first). Headers: USTAR, PAX when a name or link needs it; mode, uid, gid and mtime
 * (whole seconds) from the file, uname/gname empty, no atime/ctime. Hard links within the tree become
 * tar hard links to the first path in that order. Overlay whiteouts become OCI whiteouts: a 0/0 char
 * device `x` → empty file `.wh.x`; an opaque directory → `.wh..wh..opq` inside it. Sockets are skipped.
 * A file is read for exactly the size lstat gave: one that shrinks meanwhile fails (LAYER_CHANGED), one
 * that grows contributes its first `size` bytes, so the tar is always well formed.
 */
import { closeSync, constants, lstatSync, openSync, readSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { StoreError } from '../errors.js';
import { TarWriter, type TarHeader } from './tar-writer.js';

const WHITEOUT_PREFIX = '.wh.';
const OPAQUE_MARKER = '.wh..wh..opq';
const MAX_USTAR_ID = 0o777777;
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW;

interface Item {
  /** Path in the tar, relative, '/'-separated; directories end in '/'. */
  name: string;
  /** `name` as UTF-8, the sort key. */
  key: Buffer;
  abs: string;
  st: Stats;
  kind: 'dir' | 'file' | 'symlink' | 'whiteout' | 'opaque' | 'node';
}

/**
 * Yield the tar of `dir` in chunks (each the caller's to keep; all but the last exactly 1 MiB).
 * `opaque`: absolute paths of the directories that carry the overlay opaque xattr.
 */
export function* tarChunks(dir: string, opaque: ReadonlySet<string>): Generator<Buffer, void, void> {
  const ready: Buffer[] = [];
  yield* encodeTree(dir, opaque, new TarWriter((chunk) => void ready.push(chunk)), ready);
}

/**
 * The same tar, handed to `consume` synchronously in one reused 1 MiB buffer (all but the last chunk
 * exactly 1 MiB): `consume` must be done with a chunk when it returns. What a file sink uses (tar-file.ts):
 * no buffer per chunk, no hand-over between threads.
 */
export function tarInto(dir: string, opaque: ReadonlySet<string>, consume: (chunk: Buffer) => void): void {
  // `consume` takes every chunk as it fills, so the generator never has one to yield
  for (const _ of encodeTree(dir, opaque, new TarWriter(consume, { reuse: true }), [])) void _;
}

/** Encode the tree into `out`, yielding the chunks its emit put into `ready`. */
function* encodeTree(dir: string, opaque: ReadonlySet<string>, out: TarWriter, ready: Buffer[]): Generator<Buffer, void, void> {
  const hardlinks = new Map<string, string>();
  for (const it of walk(dir, '', opaque)) {
    const st = it.st;
    if ((it.kind === 'file' || it.kind === 'symlink' || it.kind === 'node') && st.nlink > 1) {
      const key = `${st.dev}:${st.ino}`;
      const first = hardlinks.get(key);
      if (first !== undefined) {
        out.entry({ ...header(it), type: 'link', linkname: first, size: 0 });
        if (ready.length) yield* ready.splice(0);
        continue;
      }
      hardlinks.set(key, it.name);
    }
    if (it.kind === 'file') yield* fileEntry(out, it, ready);
    else out.entry(otherHeader(it));
    if (ready.length) yield* ready.splice(0);
  }
  out.finish();
  yield* ready.splice(0);
}

/** Depth-first walk in tar order. */
function* walk(dir: string, prefix: string, opaque: ReadonlySet<string>): Generator<Item, void, void> {
  const items: Item[] = [];
  for (const n of readdirSync(dir)) {
    const abs = join(dir, n);
    const st = lstatSync(abs);
    let name: string;
    let kind: Item['kind'];
    if (st.isFile()) (name = prefix + n), (kind = 'file');
    else if (st.isDirectory()) (name = `${prefix}${n}/`), (kind = 'dir');
    else if (st.isSymbolicLink()) (name = prefix + n), (kind = 'symlink');
    else if (st.isCharacterDevice() && st.rdev === 0) (name = prefix + WHITEOUT_PREFIX + n), (kind = 'whiteout');
    else if (st.isCharacterDevice() || st.isBlockDevice() || st.isFIFO()) (name = prefix + n), (kind = 'node');
    else continue; // sockets are not carried in layers
    items.push({ name, key: Buffer.from(name), abs, st, kind });
  }
  items.sort((a, b) => Buffer.compare(a.key, b.key));
  if (prefix !== '' && opaque.has(dir)) {
    const name = prefix + OPAQUE_MARKER;
    yield { name, key: Buffer.from(name), abs: dir, st: lstatSync(dir), kind: 'opaque' };
  }
  for (const it of items) {
    yield it;
    if (it.kind === 'dir') yield* walk(it.abs, it.name, opaque);
  }
}

function header(it: Item): TarHeader {
  const { st } = it;
  const h: TarHeader = { name: it.name, type: 'file', mode: st.mode, uid: st.uid, gid: st.gid, mtime: Math.floor(st.mtimeMs / 1000), uname: '', gname: '' };
  if (st.uid > MAX_USTAR_ID || st.gid > MAX_USTAR_ID) {
    // USTAR has 6 octal digits for ids: carry big ones in PAX records
    const pax: Record<string, string> = {};
    if (st.uid > MAX_USTAR_ID) pax['uid'] = String(st.uid);
    if (st.gid > MAX_USTAR_ID) pax['gid'] = String(st.gid);
    h.pax = pax;
  }
  return h;
}

/** The header of anything but a regular file's first link. */
function otherHeader(it: Item): TarHeader {
  const h = header(it);
  switch (it.kind) {
    case 'dir':
      return { ...h, type: 'directory' };
    case 'whiteout':
    case 'opaque':
      return { ...h, mode: 0o100600, uid: 0, gid: 0, type: 'file', size: 0 };
    case 'symlink':
      return { ...h, type: 'symlink', linkname: readlinkSync(it.abs) };
    default: {
      const { st } = it;
      const { major, minor } = devNumbers(st.rdev);
      const type = st.isFIFO() ? 'fifo' : st.isBlockDevice() ? 'block-device' : 'character-device';
      return { ...h, type, devmajor: major, devminor: minor };
    }
  }
}

/** A regular file: header, then its data read into the tar chunk, yielding whenever a chunk fills. */
function* fileEntry(out: TarWriter, it: Item, ready: Buffer[]): Generator<Buffer, void, void> {
  const size = it.st.size;
  out.entry({ ...header(it), type: 'file', size });
  if (size === 0) return;
  const fd = openSync(it.abs, OPEN_FLAGS);
  try {
    let left = size;
    const read = (buf: Buffer, off: number, len: number) => readSync(fd, buf, off, len, null);
    while (left > 0) {
      const n = out.fill(left, read);
      if (n === 0) throw changed(it.abs);
      left -= n;
      if (ready.length) yield* ready.splice(0);
    }
  } finally {
    closeSync(fd);
  }
  out.pad(size);
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
