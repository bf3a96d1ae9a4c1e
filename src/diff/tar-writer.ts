/**
 * A minimal tar encoder for layers: USTAR headers (a PAX extended header when a name, link or id does
 * not fit), entries written into one large buffer and handed on in 1 MiB chunks. Byte for byte the
 * encoding of tar-stream's pack (which made every earlier layer), without its per-entry stream
 * machinery, which dominated the cost of layers of many small files.
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

export class TarWriter {
  private buf = Buffer.alloc(CHUNK);
  private off = 0;

  /** `emit` receives each full chunk (owned by the callee) and may apply back-pressure. */
  constructor(private readonly emit: (chunk: Buffer) => Promise<void>) {}

  async entry(h: TarHeader, data?: Buffer): Promise<void> {
    const size = h.type === 'symlink' || !h.size ? 0 : h.size;
    const plain = h.pax ? null : encodeHeader({ ...h, size });
    if (plain) await this.put(plain);
    else {
      const pax = encodePax(h);
      const paxHeader = { ...h, name: 'PaxHeader', size: pax.byteLength, type: 'pax-header' as const, ...(h.linkname ? { linkname: 'PaxHeader' } : {}) };
      await this.put(encodeHeader(paxHeader)!);
      await this.put(pax);
      await this.pad(pax.byteLength);
      await this.put(encodeHeader({ ...paxHeader, size, type: h.type })!);
    }
    if (data && data.byteLength) {
      await this.put(data);
      await this.pad(data.byteLength);
    }
  }

  /** A file entry whose data comes in pieces (`write`, then `endFile`). */
  async beginFile(h: TarHeader): Promise<void> {
    await this.entry(h);
  }

  async write(data: Buffer): Promise<void> {
    await this.put(data);
  }

  async endFile(size: number): Promise<void> {
    await this.pad(size);
  }

  /** The end-of-archive marker, then the last chunk. */
  async finish(): Promise<void> {
    await this.put(Buffer.alloc(1024));
    if (this.off > 0) {
      const last = this.buf.subarray(0, this.off);
      this.buf = Buffer.alloc(0);
      this.off = 0;
      await this.emit(last);
    }
  }

  private async pad(size: number): Promise<void> {
    const rem = size % 512;
    if (rem) await this.put(ZEROS.subarray(0, 512 - rem));
  }

  private async put(data: Buffer): Promise<void> {
    let pos = 0;
    while (pos < data.byteLength) {
      const n = Math.min(CHUNK - this.off, data.byteLength - pos);
      data.copy(this.buf, this.off, pos, pos + n);
      this.off += n;
      pos += n;
      if (this.off === CHUNK) {
        const full = this.buf;
        this.buf = Buffer.allocUnsafe(CHUNK);
        this.off = 0;
        await this.emit(full);
      }
    }
  }
}

const ZEROS = Buffer.alloc(512);

function octal(val: number, n: number): string {
  const s = val.toString(8);
  if (s.length > n) return '7'.repeat(n) + ' ';
  return '0'.repeat(n - s.length) + s + ' ';
}

function encodeHeader(h: Omit<TarHeader, 'type'> & { type: TarHeader['type'] | 'pax-header'; size: number }): Buffer | null {
  const buf = Buffer.alloc(512);
  let name = h.name;
  let prefix = '';
  if (Buffer.byteLength(name) !== name.length) return null; // non-ASCII: PAX
  while (name.length > 100) {
    const i = name.indexOf('/');
    if (i === -1) return null;
    prefix += prefix ? '/' + name.slice(0, i) : name.slice(0, i);
    name = name.slice(i + 1);
  }
  if (name.length > 100 || Buffer.byteLength(prefix) > 155) return null;
  if (h.linkname && Buffer.byteLength(h.linkname) > 100) return null;
  buf.write(name, 0);
  buf.write(octal(h.mode & 0o7777, 6), 100);
  buf.write(octal(h.uid, 6), 108);
  buf.write(octal(h.gid, 6), 116);
  if (h.size.toString(8).length > 11) {
    buf[124] = 0x80;
    let num = h.size;
    for (let i = 11; i > 0; i--) {
      buf[124 + i] = num & 0xff;
      num = Math.floor(num / 0x100);
    }
  } else buf.write(octal(h.size, 11), 124);
  buf.write(octal(h.mtime | 0, 11), 136);
  buf[156] = 48 + TYPEFLAG[h.type];
  if (h.linkname) buf.write(h.linkname, 157);
  buf.write('ustar\0', 257, 'latin1');
  buf.write('00', 263);
  if (h.uname) buf.write(h.uname, 265);
  if (h.gname) buf.write(h.gname, 297);
  buf.write(octal(h.devmajor || 0, 6), 329);
  buf.write(octal(h.devminor || 0, 6), 337);
  if (prefix) buf.write(prefix, 345);
  let sum = 8 * 32;
  for (let i = 0; i < 148; i++) sum += buf[i]!;
  for (let j = 156; j < 512; j++) sum += buf[j]!;
  buf.write(octal(sum, 6), 148);
  return buf;
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
