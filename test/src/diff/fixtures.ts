import { execFileSync } from 'node:child_process';
import { chmod, chown, link, lutimes, mkdir, rm, symlink, unlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { OverlaySnapshotter } from '../../../src/snapshot/overlay.js';
import { withMounts } from '../../../src/snapshot/mount.js';

export const LONG = 'd'.repeat(60) + '/' + 'e'.repeat(70) + '/' + 'f'.repeat(90);

/**
 * Two real overlay layers: `base` (every entry type, odd modes and owners, long and non-ASCII names,
 * hard links, a file bigger than the whole-file read limit) and `top` on it (a deleted file, a deleted
 * directory, a directory deleted and recreated = opaque, a changed file). Returns the snapshotter.
 */
export async function makeLayers(tmp: string): Promise<OverlaySnapshotter> {
  const sn = new OverlaySnapshotter(join(tmp, 'snapshots'));
  const mnt = join(tmp, 'mnt');
  await mkdir(mnt, { recursive: true });
  await withMounts(await sn.prepare('base-a'), mnt, async (d) => {
    await mkdir(join(d, 'etc'));
    await writeFile(join(d, 'etc', 'passwd'), 'root:x:0:0::/root:/bin/sh\n');
    await writeFile(join(d, 'etc', 'shadow'), 'secret');
    await chmod(join(d, 'etc', 'shadow'), 0o000);
    await mkdir(join(d, 'bin'));
    await writeFile(join(d, 'bin', 'tool'), '#!/bin/sh\necho hi\n');
    await chmod(join(d, 'bin', 'tool'), 0o4755);
    await link(join(d, 'bin', 'tool'), join(d, 'bin', 'tool-link'));
    await symlink('tool', join(d, 'bin', 'alias'));
    await symlink('/nonexistent/target', join(d, 'dangling'));
    await mkdir(join(d, 'home', 'user'), { recursive: true });
    await writeFile(join(d, 'home', 'user', 'notes – ünïcode.txt'), 'ü');
    await chown(join(d, 'home', 'user'), 1234, 5678);
    await chown(join(d, 'home', 'user', 'notes – ünïcode.txt'), 1234, 5678);
    await mkdir(join(d, LONG, '..'), { recursive: true });
    await writeFile(join(d, LONG), 'long');
    await writeFile(join(d, 'big.bin'), Buffer.alloc(9 << 20, 0x5a));
    await writeFile(join(d, 'empty'), '');
    await writeFile(join(d, 'bigid'), 'ids beyond USTAR octal fields');
    await chown(join(d, 'bigid'), 1_000_000, 2_000_000);
    execFileSync('mkfifo', [join(d, 'fifo')]);
    execFileSync('mknod', [join(d, 'null'), 'c', '1', '3']);
    await mkdir(join(d, 'old', 'sub'), { recursive: true });
    await writeFile(join(d, 'old', 'sub', 'x'), 'x');
    await mkdir(join(d, 'dir'));
    await writeFile(join(d, 'dir', 'a'), 'a');
    await writeFile(join(d, 'gone'), 'bye');
    await utimes(join(d, 'etc', 'passwd'), 1_000_000_000, 1_000_000_000.75);
    await lutimes(join(d, 'bin', 'alias'), 1_100_000_000, 1_100_000_000);
  });
  await sn.commit('base', 'base-a');
  await withMounts(await sn.prepare('top-a', 'base'), mnt, async (d) => {
    await unlink(join(d, 'gone'));
    await rm(join(d, 'old'), { recursive: true });
    await rm(join(d, 'dir'), { recursive: true });
    await mkdir(join(d, 'dir'));
    await writeFile(join(d, 'dir', 'b'), 'b');
    await writeFile(join(d, 'etc', 'passwd'), 'root:x:0:0::/root:/bin/bash\n');
  });
  await sn.commit('top', 'top-a');
  return sn;
}

export interface TarEntrySpec {
  header: Partial<tar.Header> & { name: string };
  body?: string;
}

/** A tar built with tar-stream from explicit headers (for hostile inputs). */
export async function makeTar(entries: TarEntrySpec[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries) pack.entry({ mode: 0o644, ...e.header }, e.body ?? '');
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of Readable.from(pack as AsyncIterable<Buffer>)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Names of the entries of an uncompressed tar, in order. */
export async function tarNames(data: Buffer): Promise<string[]> {
  const ex = tar.extract();
  const names: string[] = [];
  const done = (async () => {
    for await (const e of ex) {
      names.push(e.header.name);
      for await (const _ of e) {
        // drain
      }
    }
  })();
  ex.end(data);
  await done;
  return names;
}
