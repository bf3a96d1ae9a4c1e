/**
 * A minimal tar encoder for layers: USTAR headers (a PAX extended header when a name, link or id does
 * not fit), entries written into one large buffer and handed on in 1 MiB chunks. Byte for byte the
 * encoding of tar-stream's pack (which made every earlier layer), without its per-entry stream
 * machinery, which dominated the cost of layers of many small files. Synchronous: headers and file data
 * go straight into the chunk (no per-entry buffers or promises); the caller decides where it runs.
 */
export interface TarHeader {
  name: string;
  type: 'file' | 'link' | 'symlink' | 'character-device' | 'block-device' | 'directory' | 'fifo';
  mode: number;
  uid: number;
  gid: number;
  /** Whole seconds since the epoch. */
  mtime: number;
  size?: number;
  linkname?: string;
  uname?: string;
  gname?: string;
  devmajor?: number;
  devminor?: number;
  pax?: Record<string, string>;
}

const CHUNK = 1 << 20;
const TYPEFLAG: Record<TarHeader['type'] | 'pax-header', number> = {
  file: 0,
  link: 1,
  symlink: 2,
  'character-device': 3,
  'block-device': 4,
  directory: 5,
  fifo: 6,
  'pax-header': 72,
};

export interface TarWriterOptions {
  /**
   * Write every chunk into the same 1 MiB buffer: `emit` must be done with a chunk when it returns (it
   * hashes and writes it, synchronously). No buffer per chunk: a fresh one costs 256 page faults.
   */
  reuse?: boolean;
}

export class TarWriter {
  private buf = Buffer.allocUnsafe(CHUNK);
  private off = 0;
  private readonly reuse: boolean;

  /**
   * `emit` receives each full chunk, synchronously; the chunk is the callee's (the writer never touches it
   * again) unless `reuse` is set. Every chunk but the last is exactly 1 MiB and owns its whole ArrayBuffer
   * (transferable).
   */
  constructor(
    private readonly emit: (chunk: Buffer) => void,
    opts: TarWriterOptions = {},
  ) {
    this.reuse = opts.reuse ?? false;
  }

  /** One entry: its header(s), then `data` (padded) when given. For data in pieces use `fill` + `pad`. */
  entry(h: TarHeader, data?: Buffer): void {
    const size = h.type === 'symlink' || !h.size ? 0 : h.size;
    if (h.pax || !this.header({ ...h, size })) {
      const pax = encodePax(h);
      const paxHeader = { ...h, name: 'PaxHeader', size: pax.byteLength, type: 'pax-header' as const, ...(h.linkname ? { linkname: 'PaxHeader' } : {}) };
      this.header(paxHeader, true);
      this.put(pax);
      this.pad(pax.byteLength);
      this.header({ ...paxHeader, size, type: h.type }, true);
    }
    if (data && data.byteLength) {
      this.put(data);
      this.pad(data.byteLength);
    }
  }

  /**
   * Append up to `max` bytes of an entry's data straight into the chunk: `read(buf, off, len)` fills
   * `buf[off, off+len)` and returns how many bytes it wrote (0: no more). Returns that count; at most
   * what is left of the current chunk is asked for, so a caller loops until its entry's size is written.
   */
  fill(max: number, read: (buf: Buffer, off: number, len: number) => number): number {
    const len = Math.min(max, CHUNK - this.off);
    const n = len > 0 ? read(this.buf, this.off, len) : 0;
    if (n < 0 || n > len) throw new RangeError(`tar fill: read returned ${n} for ${len} bytes`);
    this.off += n;
    if (this.off === CHUNK) this.next();
    return n;
  }

  /** Zero padding after `size` bytes of entry data (to the 512-byte record). */
  pad(size: number): void {
    const rem = size % 512;
    if (rem) this.put(ZEROS.subarray(0, 512 - rem));
  }

  /** The end-of-archive marker, then the last chunk. */
  finish(): void {
    this.put(Buffer.alloc(1024));
    if (this.off > 0) {
      const last = this.buf.subarray(0, this.off);
      this.buf = Buffer.alloc(0);
      this.off = 0;
      this.emit(last);
    }
  }

  /**
   * Encode a header straight into the chunk. Every record is 512 bytes and a chunk holds a whole number
   * of them, so a header never straddles two chunks. False (nothing written) when it needs PAX.
   */
  private header(h: HeaderFields, must = false): boolean {
    if (!encodeHeader(h, this.buf, this.off)) {
      if (must) throw new RangeError(`tar: cannot encode the header of ${h.name}`);
      return false;
    }
    this.off += 512;
    if (this.off === CHUNK) this.next();
    return true;
  }

  private put(data: Buffer): void {
    let pos = 0;
    while (pos < data.byteLength) {
      const n = Math.min(CHUNK - this.off, data.byteLength - pos);
      data.copy(this.buf, this.off, pos, pos + n);
      this.off += n;
      pos += n;
      if (this.off === CHUNK) this.next();
    }
  }

  private next(): void {
    const full = this.buf;
    if (!this.reuse) this.buf = Buffer.allocUnsafe(CHUNK);
    this.off = 0;
    this.emit(full);
  }
}

type HeaderFields = Omit<TarHeader, 'type'> & { type: TarHeader['type'] | 'pax-header'; size: number };

const ZEROS = Buffer.alloc(512);

function octal(val: number, n: number): string {
  const s = val.toString(8);
  if (s.length > n) return '7'.repeat(n) + ' ';
  return '0'.repeat(n - s.length) + s + ' ';
}

/** `buf.write(octal(val, n), off)` without the string (the common case: a non-negative integer that fits). */
function writeOctal(buf: Buffer, off: number, val: number, n: number): void {
  if (!Number.isSafeInteger(val) || val < 0 || val >= 8 ** n) {
    buf.write(octal(val, n), off);
    return;
  }
  buf[off + n] = 0x20;
  for (let i = n - 1; i >= 0; i--) {
    buf[off + i] = 0x30 + (val % 8);
    val = Math.floor(val / 8);
  }
}

/** Write the 512-byte USTAR header of `h` at `buf[at]`; false (nothing written) when it does not fit USTAR. */
function encodeHeader(h: HeaderFields, out: Buffer, at: number): boolean {
  let name = h.name;
  let prefix = '';
  if (Buffer.byteLength(name) !== name.length) return false; // non-ASCII: PAX
  while (name.length > 100) {
    const i = name.indexOf('/');
    if (i === -1) return false;
    prefix += prefix ? '/' + name.slice(0, i) : name.slice(0, i);
    name = name.slice(i + 1);
  }
  if (name.length > 100 || Buffer.byteLength(prefix) > 155) return false;
  if (h.linkname && Buffer.byteLength(h.linkname) > 100) return false;
  const buf = out.subarray(at, at + 512);
  buf.fill(0);
  buf.write(name, 0);
  writeOctal(buf, 100, h.mode & 0o7777, 6);
  writeOctal(buf, 108, h.uid, 6);
  writeOctal(buf, 116, h.gid, 6);
  if (h.size.toString(8).length > 11) {
    buf[124] = 0x80;
    let num = h.size;
    for (let i = 11; i > 0; i--) {
      buf[124 + i] = num & 0xff;
      num = Math.floor(num / 0x100);
    }
  } else writeOctal(buf, 124, h.size, 11);
  writeOctal(buf, 136, h.mtime | 0, 11);
  buf[156] = 48 + TYPEFLAG[h.type];
  if (h.linkname) buf.write(h.linkname, 157);
  buf.write('ustar\0', 257, 'latin1');
  buf.write('00', 263);
  if (h.uname) buf.write(h.uname, 265);
  if (h.gname) buf.write(h.gname, 297);
  writeOctal(buf, 329, h.devmajor || 0, 6);
  writeOctal(buf, 337, h.devminor || 0, 6);
  if (prefix) buf.write(prefix, 345);
  let sum = 8 * 32;
  for (let i = 0; i < 148; i++) sum += buf[i]!;
  for (let j = 156; j < 512; j++) sum += buf[j]!;
  writeOctal(buf, 148, sum, 6);
  return true;
}

function paxRecord(str: string): string {
  const len = Buffer.byteLength(str);
  let digits = Math.floor(Math.log(len) / Math.log(10)) + 1;
  if (len + digits >= Math.pow(10, digits)) digits++;
  return len + digits + str;
}

function encodePax(h: TarHeader): Buffer {
  let s = '';
  if (h.name) s += paxRecord(' path=' + h.name + '\n');
  if (h.linkname) s += paxRecord(' linkpath=' + h.linkname + '\n');
  for (const key in h.pax ?? {}) s += paxRecord(' ' + key + '=' + h.pax![key] + '\n');
  return Buffer.from(s);
}
