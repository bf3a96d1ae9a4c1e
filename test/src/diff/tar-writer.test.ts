/**
 * TarWriter writes the same bytes as tar-stream's pack (which made every earlier layer, so cached layer
 * digests stay valid), and GNU tar reads it: long names (USTAR prefix and PAX), non-ASCII names, long
 * link targets, big ids, devices, hard links, empty and multi-chunk files.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pack as tarPack } from 'tar-stream';
import { TarWriter, type TarHeader } from '../../../src/diff/tar-writer.js';

const long = 'd'.repeat(60) + '/' + 'e'.repeat(60) + '/' + 'f'.repeat(90);
const cases: [TarHeader, Buffer?][] = [
  [{ name: 'dir/', type: 'directory', mode: 0o40755, uid: 0, gid: 0, mtime: 1_700_000_000, uname: '', gname: '' }],
  [{ name: 'dir/file.txt', type: 'file', mode: 0o100644, uid: 1000, gid: 1000, mtime: 1_700_000_001, size: 5, uname: '', gname: '' }, Buffer.from('hello')],
  [{ name: 'empty', type: 'file', mode: 0o100600, uid: 0, gid: 0, mtime: 0, size: 0, uname: '', gname: '' }, Buffer.alloc(0)],
  [{ name: long, type: 'file', mode: 0o100644, uid: 0, gid: 0, mtime: 5, size: 3, uname: '', gname: '' }, Buffer.from('abc')],
  [{ name: 'x'.repeat(150), type: 'file', mode: 0o100644, uid: 0, gid: 0, mtime: 5, size: 1, uname: '', gname: '' }, Buffer.from('1')],
  [{ name: 'héllo/wörld.txt', type: 'file', mode: 0o100644, uid: 0, gid: 0, mtime: 5, size: 2, uname: '', gname: '' }, Buffer.from('hi')],
  [{ name: 'link', type: 'symlink', mode: 0o120777, uid: 0, gid: 0, mtime: 5, linkname: '/t/' + 'l'.repeat(120), uname: '', gname: '' }],
  [{ name: 'hard', type: 'link', mode: 0o100644, uid: 0, gid: 0, mtime: 5, linkname: 'dir/file.txt', size: 0, uname: '', gname: '' }],
  [{ name: 'big-ids', type: 'file', mode: 0o100644, uid: 3_000_000, gid: 4_000_000, mtime: 5, size: 1, uname: '', gname: '', pax: { uid: '3000000', gid: '4000000' } }, Buffer.from('z')],
  [{ name: 'null', type: 'character-device', mode: 0o20666, uid: 0, gid: 0, mtime: 5, devmajor: 1, devminor: 3, uname: '', gname: '' }],
  [{ name: 'fifo', type: 'fifo', mode: 0o10644, uid: 0, gid: 0, mtime: 5, uname: '', gname: '' }],
  [{ name: 'big.bin', type: 'file', mode: 0o100644, uid: 0, gid: 0, mtime: 5, size: (3 << 20) + 7, uname: '', gname: '' }, Buffer.alloc((3 << 20) + 7, 7)],
];

async function withTarStream(): Promise<Buffer> {
  const p = tarPack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((res) => {
    p.on('data', (c: Buffer) => chunks.push(c));
    p.on('end', () => res());
  });
  for (const [h, data] of cases) {
    const th = { ...h, mtime: new Date(h.mtime * 1000) } as Parameters<typeof p.entry>[0];
    await new Promise<void>((res, rej) => (data ? p.entry(th, data, (e) => (e ? rej(e) : res())) : p.entry(th, (e) => (e ? rej(e) : res()))));
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

function withTarWriter(): Buffer {
  const chunks: Buffer[] = [];
  const w = new TarWriter((c) => void chunks.push(c));
  for (const [h, data] of cases) w.entry(h, data);
  w.finish();
  return Buffer.concat(chunks);
}

/** The same entries, each file's data handed over in pieces through fill() instead of entry(h, data). */
function withFill(piece: number): { tar: Buffer; chunks: Buffer[] } {
  const chunks: Buffer[] = [];
  const w = new TarWriter((c) => void chunks.push(c));
  for (const [h, data] of cases) {
    w.entry(h);
    if (!data || h.type !== 'file') continue;
    let pos = 0;
    while (pos < data.byteLength) {
      pos += w.fill(data.byteLength - pos, (buf, off, len) => data.copy(buf, off, pos, pos + Math.min(len, piece)));
    }
    w.pad(data.byteLength);
  }
  w.finish();
  return { tar: Buffer.concat(chunks), chunks };
}

describe('TarWriter', () => {
  it('writes exactly the bytes tar-stream writes', async () => {
    const a = await withTarStream();
    const b = withTarWriter();
    expect(b.byteLength).toBe(a.byteLength);
    expect(b.equals(a)).toBe(true);
  });

  it('fill() writes data in pieces into the same bytes; every chunk but the last is 1 MiB and owns its memory', async () => {
    const a = withTarWriter();
    for (const piece of [777, 4096, 1 << 20, 8 << 20]) {
      const { tar, chunks } = withFill(piece);
      expect(tar.equals(a)).toBe(true);
      expect(chunks.length).toBeGreaterThan(3);
      for (const c of chunks.slice(0, -1)) {
        expect(c.byteLength).toBe(1 << 20);
        expect(c.byteOffset).toBe(0);
        expect(c.buffer.byteLength).toBe(1 << 20);
      }
    }
    const w = new TarWriter(() => {});
    w.entry({ name: 'f', type: 'file', mode: 0o100644, uid: 0, gid: 0, mtime: 0, size: 10 });
    expect(() => w.fill(10, () => 11)).toThrow(RangeError);
  });

  it('GNU tar lists every entry with its name, owner and link', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsbuild-tarw-'));
    try {
      const file = join(dir, 'x.tar');
      writeFileSync(file, withTarWriter());
      const names = execFileSync('tar', ['-tf', file]).toString().trim().split('\n');
      expect(names).toEqual(cases.map(([h]) => h.name));
      const verbose = execFileSync('tar', ['--numeric-owner', '-tvf', file]).toString();
      expect(verbose).toMatch(/3000000\/4000000 .* big-ids/);
      expect(verbose).toMatch(/link -> \/t\/l{120}/);
      expect(verbose).toMatch(/hard link to dir\/file\.txt/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
