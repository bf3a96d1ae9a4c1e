/**
 * `type=local,dest=DIR` (and `-o DIR`): the final rootfs as files. Copied with `cp -a` (owners, modes,
 * times, links, devices, xattrs kept) into a temp dir next to DIR first; only a complete copy is moved
 * into place, so a failed export leaves DIR as it was. An existing DIR keeps files the rootfs lacks;
 * paths the rootfs has are replaced (as BuildKit's local exporter does).
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { BuildResult } from '../src/llb/result.js';
import { fsyncDir } from '../src/fsutil/atomic.js';
import { exportError } from '../src/imagestore/output-file.js';
import { withRootfs } from './rootfs.js';
import type { Exporter, ExportContext, ExportResponse, ImageBlobs } from './types.js';

const run = promisify(execFile);

export class LocalExporter implements Exporter {
  readonly type = 'local';
  constructor(private readonly dest: string) {}

  async export(result: BuildResult, _image: ImageBlobs, ctx: ExportContext): Promise<ExportResponse> {
    const dest = resolve(this.dest);
    let tmp: string | undefined;
    try {
      await mkdir(dirname(dest), { recursive: true }); // as BuildKit: dest's parents are created
      tmp = await mkdtemp(join(dirname(dest), `.${basename(dest)}.tmp-${process.pid}-`));
      await withRootfs(result, ctx, async (root) => {
        try {
          await run('cp', ['-a', '--', `${root}/.`, `${tmp}/`], { maxBuffer: 1 << 20 });
        } catch (err) {
          const msg = ((err as { stderr?: string }).stderr ?? '').trim().split('\n').at(-1) ?? '';
          const code = /No space left/.test(msg) ? 'ENOSPC' : /Permission denied/.test(msg) ? 'EACCES' : /Read-only/.test(msg) ? 'EROFS' : undefined;
          throw Object.assign(new Error(msg || String(err)), code ? { code } : {});
        }
      });
      ctx.signal?.throwIfAborted();
      const existing = await stat(dest).catch(() => undefined);
      if (!existing || (existing.isDirectory() && (await readdir(dest)).length === 0)) {
        if (existing) await rmdir(dest);
        await rename(tmp, dest);
        tmp = undefined;
      } else {
        for (const name of await readdir(tmp)) {
          await rm(join(dest, name), { recursive: true, force: true });
          await rename(join(tmp, name), join(dest, name));
        }
      }
      await fsyncDir(dirname(dest));
    } catch (err) {
      throw exportError('local output', dest, err);
    } finally {
      if (tmp) await rm(tmp, { recursive: true, force: true }).catch(() => {});
    }
    return { message: `exporting rootfs to ${dest}` };
  }
}
