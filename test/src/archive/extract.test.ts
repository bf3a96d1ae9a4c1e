/**
 * ADD's archive detection and extraction, on real files: archives made with tar-stream (hostile ones
 * included) and compressed with Debian's gzip, bzip2 and xz.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tar from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ContextError } from '../../../src/errors.js';
import { compressionOf, detectArchive, isTarHeader } from '../../../src/archive/detect.js';
import { extractArchive } from '../../../src/archive/extract.js';
import { mkdirAllInRoot } from '../../../src/copy/copy.js';

type Entry = { name: string; type?: 'file' | 'directory' | 'symlink' | 'link'; body?: string; linkname?: string; mode?: number; uid?: number; gid?: number };

async function makeTar(path: string, entries: Entry[]): Promise<void> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise((r) => pack.on('end', r));
  for (const e of entries) {
    const header = { name: e.name, type: e.type ?? 'file', mode: e.mode ?? 0o644, uid: e.uid ?? 0, gid: e.gid ?? 0, mtime: new Date(1_600_000_000_000), ...(e.linkname ? { linkname: e.linkname } : {}) };
    pack.entry(header, e.type === undefined || e.type === 'file' ? (e.body ?? '') : undefined);
  }
  pack.finalize();
  await done;
  writeFileSync(path, Buffer.concat(chunks));
}

let dir: string;
let root: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tsbuild-archive-'));
  root = join(dir, 'rootfs');
  mkdirSync(root);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const extract = (file: string, compression: Parameters<typeof extractArchive>[1], into = '/', extra: Partial<Parameters<typeof extractArchive>[2]> = {}) =>
  extractArchive(file, compression, { root, dir: into, mkdirAll: (p) => mkdirAllInRoot(root, p, { uid: 0, gid: 0 }), ...extra });

describe('detectArchive', () => {
  it('recognises plain, gzip, bzip2 and xz tars by content, whatever the name', async () => {
    const plain = join(dir, 'a.bin');
    await makeTar(plain, [{ name: 'x', body: 'x' }]);
    expect(await detectArchive(plain)).toBe('none');
    for (const [tool, kind] of [['gzip', 'gzip'], ['bzip2', 'bzip2'], ['xz', 'xz']] as const) {
      const f = join(dir, `t-${tool}`);
      writeFileSync(f, execFileSync(tool, ['-c', plain]));
      expect(compressionOf(readFileSync(f).subarray(0, 8))).toBe(kind);
      expect(await detectArchive(f)).toBe(kind);
    }
  });

  it('says "not an archive" for text, for a compressed non-tar and for an empty file', async () => {
    const text = join(dir, 'notes.tar.gz');
    writeFileSync(text, 'just text, despite the name\n'.repeat(40));
    expect(await detectArchive(text)).toBeNull();
    const gz = join(dir, 'text.gz');
    writeFileSync(gz, execFileSync('gzip', ['-c', text]));
    expect(await detectArchive(gz)).toBeNull();
    const empty = join(dir, 'empty');
    writeFileSync(empty, '');
    expect(await detectArchive(empty)).toBeNull();
    expect(isTarHeader(Buffer.alloc(512))).toBe(false);
  });
});

describe('extractArchive', () => {
  it('extracts files, dirs, symlinks and hard links with their modes, owners and mtimes', async () => {
    const f = join(dir, 'a.tar');
    await makeTar(f, [
      { name: 'app/', type: 'directory', mode: 0o750, uid: 10, gid: 20 },
      { name: 'app/run.sh', body: 'echo hi\n', mode: 0o755, uid: 10, gid: 20 },
      { name: 'app/link', type: 'symlink', linkname: 'run.sh' },
      { name: 'app/hard', type: 'link', linkname: 'app/run.sh' },
    ]);
    const gz = join(dir, 'a.tgz');
    writeFileSync(gz, execFileSync('gzip', ['-c', f]));
    await extract(gz, 'gzip', '/opt');
    const run = lstatSync(join(root, 'opt/app/run.sh'));
    expect(run.mode & 0o7777).toBe(0o755);
    expect([run.uid, run.gid]).toEqual([10, 20]);
    expect(run.mtimeMs).toBe(1_600_000_000_000);
    expect(lstatSync(join(root, 'opt/app')).mode & 0o7777).toBe(0o750);
    expect(readlinkSync(join(root, 'opt/app/link'))).toBe('run.sh');
    expect(lstatSync(join(root, 'opt/app/hard')).ino).toBe(run.ino);
  });

  it('applies --chown and --chmod to what it extracts', async () => {
    const f = join(dir, 'b.tar');
    await makeTar(f, [{ name: 'f', body: 'x', mode: 0o600, uid: 5 }]);
    await extract(f, 'none', '/d', { chown: { uid: 7, gid: 8 }, chmod: () => 0o640 });
    const st = lstatSync(join(root, 'd/f'));
    expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([7, 8, 0o640]);
  });

  it('never writes outside the root: `..`, absolute names and symlinks (its own or the rootfs’s) stay inside', async () => {
    const outside = join(dir, 'outside');
    mkdirSync(outside);
    symlinkSync(outside, join(root, 'planted')); // a hostile symlink already in the rootfs
    const f = join(dir, 'evil.tar');
    await makeTar(f, [
      { name: '../../escape-dotdot', body: 'x' },
      { name: '/etc/abs', body: 'x' },
      { name: 'evil', type: 'symlink', linkname: outside },
      { name: 'evil/through-own-link', body: 'x' },
      { name: 'planted/through-rootfs-link', body: 'x' },
    ]);
    await extract(f, 'none', '/x');
    expect(existsSync(join(dir, 'escape-dotdot'))).toBe(false);
    expect(existsSync(join(root, 'x/escape-dotdot'))).toBe(true);
    expect(existsSync(join(root, 'x/etc/abs'))).toBe(true);
    expect(existsSync(join(outside, 'through-own-link'))).toBe(false);
    expect(existsSync(join(root, outside.slice(1), 'through-own-link'))).toBe(true);
    // Extracting at / through the rootfs's own symlink resolves inside the rootfs too.
    const g = join(dir, 'evil2.tar');
    await makeTar(g, [{ name: 'planted/y', body: 'x' }]);
    await extract(g, 'none', '/');
    expect(existsSync(join(outside, 'y'))).toBe(false);
  });

  it('refuses a hard link to something that is not a file it extracted, and a corrupt stream', async () => {
    const f = join(dir, 'hl.tar');
    await makeTar(f, [{ name: 'h', type: 'link', linkname: '../../../etc/passwd' }]);
    await expect(extract(f, 'none', '/')).rejects.toBeInstanceOf(ContextError);
    const bad = join(dir, 'bad.tar.gz');
    const good = join(dir, 'g.tar');
    await makeTar(good, [{ name: 'a', body: 'y'.repeat(100000) }]);
    const gz = execFileSync('gzip', ['-c', good]);
    writeFileSync(bad, gz.subarray(0, gz.length - 200));
    await expect(extract(bad, 'gzip', '/z')).rejects.toMatchObject({ code: 'ARCHIVE_INVALID' });
  });
});
