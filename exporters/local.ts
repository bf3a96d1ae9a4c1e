/**
 * `type=local,dest=DIR` (and `-o DIR`): the final rootfs as files. Copied with `cp -a` (owners, modes,
 * times, links, xattrs kept) into a private (0700) temp dir next to DIR first (leased: src/fsutil/temp-lease.ts);
 * only a complete copy is moved into place, so a failed export leaves DIR as it was. An existing DIR keeps
 * files the rootfs lacks; paths the rootfs has are replaced (as BuildKit's local exporter does).
 *
 * Safer than BuildKit (whose client recreates everything, as root too): a layer's device nodes (e.g. a
 * 0666 /dev/mem) are never created outside the store (skipped, and said so), and setuid/setgid bits are
 * removed from files before they become visible, unless `keep-setuid=true` asks to keep them.
 */
import { execFile } from 'node:child_process';
import { chmod, lchown, lstat, lutimes, mkdir, readdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { BuildResult } from '../src/llb/result.js';
import { fsyncDir, tempPathFor } from '../src/fsutil/atomic.js';
import { resolveInRootSync } from '../src/fsutil/scoped.js';
import { withTempLease } from '../src/fsutil/temp-lease.js';
import { exportError } from '../src/imagestore/output-file.js';
import { withRootfs } from './rootfs.js';
import type { Exporter, ExportContext, ExportResponse, ImageBlobs } from './types.js';
import { platformDirName, type PlatformImage } from './platforms.js';

const run = promisify(execFile);

export interface LocalExportOptions {
  /** Keep setuid/setgid bits on exported files (`-o type=local,keep-setuid=true`); default false. */
  keepSetuid?: boolean;
}

export class LocalExporter implements Exporter {
  readonly type = 'local';
  constructor(
    private readonly dest: string,
    private readonly opts: LocalExportOptions = {},
  ) {}

  /** Several platforms: one subdirectory per platform (`DIR/linux_amd64`, `DIR/linux_arm64`), as buildx; each written as a one-platform DIR is. */
  async exportPlatforms(images: PlatformImage[], ctx: ExportContext): Promise<ExportResponse> {
    const messages: string[] = [];
    for (const img of images) messages.push((await new LocalExporter(join(this.dest, platformDirName(img.platform)), this.opts).export(img.result, img.blobs, ctx)).message);
    return { message: messages.join('; ') };
  }

  async export(result: BuildResult, _image: ImageBlobs, ctx: ExportContext): Promise<ExportResponse> {
    const dest = resolve(this.dest);
    let notes: string[] = [];
    try {
      await mkdir(dirname(dest), { recursive: true }); // as BuildKit: dest's parents are created
      const tmp = tempPathFor(dest);
      await withTempLease(tmp, async () => {
        try {
          await mkdir(tmp, { mode: 0o700 });
          const tree = join(tmp, 'rootfs');
          notes = await withRootfs(result, ctx, (root) => copyRootfs(root, tree, this.opts));
          ctx.signal?.throwIfAborted();
          const existing = await stat(dest).catch(() => undefined);
          if (!existing || (existing.isDirectory() && (await readdir(dest)).length === 0)) {
            if (existing) await rmdir(dest);
            await rename(tree, dest);
          } else {
            for (const name of await readdir(tree)) {
              await rm(join(dest, name), { recursive: true, force: true });
              await rename(join(tree, name), join(dest, name));
            }
          }
          await fsyncDir(dirname(dest));
        } finally {
          await rm(tmp, { recursive: true, force: true }).catch(() => {});
        }
      });
    } catch (err) {
      throw exportError('local output', dest, err);
    }
    return { message: [`exporting rootfs to ${dest}`, ...notes].join('; ') };
  }
}

/** Copy the rootfs `root` to the new dir `out` (its parent is private); returns notes for the user. */
async function copyRootfs(root: string, out: string, opts: LocalExportOptions): Promise<string[]> {
  const { devices, setid } = await findSpecial(root);
  const notes: string[] = [];
  if (devices.length === 0) {
    await cp(['-a', '--', root, out]);
  } else {
    await copyExcept(root, out, '', new Set(devices), ancestorsOf(devices));
    notes.push(`${devices.length} device node${devices.length === 1 ? '' : 's'} not exported (${preview(devices)})`);
  }
  if (setid.length > 0 && !opts.keepSetuid) {
    for (const rel of setid) {
      const host = resolveInRootSync(out, rel, { followFinal: false });
      const st = await lstat(host).catch(() => undefined);
      if (st?.isFile()) await chmod(host, st.mode & 0o1777);
    }
    notes.push(`setuid/setgid bits removed from ${setid.length} file${setid.length === 1 ? '' : 's'} (${preview(setid)}; keep them with keep-setuid=true)`);
  }
  return notes;
}

/** Paths (relative to root) of block/char devices, and of regular files with setuid or setgid. */
async function findSpecial(root: string): Promise<{ devices: string[]; setid: string[] }> {
  const { stdout } = await run('find', [root, '(', '-type', 'b', '-o', '-type', 'c', ')', '-printf', 'd%P\\0', '-o', '-type', 'f', '-perm', '/6000', '-printf', 's%P\\0'], {
    maxBuffer: 64 << 20,
    encoding: 'buffer',
  });
  const devices: string[] = [];
  const setid: string[] = [];
  for (const item of stdout.toString('utf8').split('\0')) {
    if (item.startsWith('d')) devices.push(item.slice(1));
    else if (item.startsWith('s')) setid.push(item.slice(1));
  }
  return { devices, setid };
}

function ancestorsOf(paths: string[]): Set<string> {
  const out = new Set<string>();
  for (const p of paths) for (let d = dirname(p); d !== '.' && d !== '/' && !out.has(d); d = dirname(d)) out.add(d);
  return out;
}

/**
 * `cp -a` of directory `root/rel` to `out/rel`, leaving out `skip`: directories on the way to a skipped
 * path are walked (and get their owner, mode and times afterwards), everything else goes to `cp -a`.
 */
async function copyExcept(root: string, out: string, rel: string, skip: Set<string>, walk: Set<string>): Promise<void> {
  const src = join(root, rel);
  const dst = join(out, rel);
  await mkdir(dst, { mode: 0o700 });
  const whole: string[] = [];
  for (const name of await readdir(src)) {
    const r = rel ? `${rel}/${name}` : name;
    if (skip.has(r)) continue;
    if (walk.has(r)) await copyExcept(root, out, r, skip, walk);
    else whole.push(join(src, name));
  }
  for (let i = 0; i < whole.length; i += 256) await cp(['-a', '-t', dst, '--', ...whole.slice(i, i + 256)]);
  const st = await lstat(src);
  await lchown(dst, st.uid, st.gid);
  await chmod(dst, st.mode & 0o7777);
  await lutimes(dst, st.atime, st.mtime);
}

async function cp(args: string[]): Promise<void> {
  try {
    await run('cp', args, { maxBuffer: 1 << 20 });
  } catch (err) {
    const msg = ((err as { stderr?: string }).stderr ?? '').trim().split('\n').at(-1) ?? '';
    const code = /No space left/.test(msg) ? 'ENOSPC' : /Permission denied/.test(msg) ? 'EACCES' : /Read-only/.test(msg) ? 'EROFS' : undefined;
    throw Object.assign(new Error(msg || String(err)), code ? { code } : {});
  }
}

function preview(paths: string[]): string {
  const shown = paths.slice(0, 3).map((p) => `/${p}`);
  return paths.length > 3 ? `${shown.join(', ')}, …` : shown.join(', ');
}
