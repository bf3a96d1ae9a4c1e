/**
 * `type=tar,dest=out.tar` (and `-o -`: stdout): the final rootfs as one tar, in the same deterministic
 * format as layers (sorted, numeric owners, whole-second mtimes). The file appears only when complete.
 */
import type { Writable } from 'node:stream';
import { tarTree } from '../src/diff/compare.js';
import type { BuildResult } from '../src/llb/result.js';
import { withOutputFile } from '../src/imagestore/output-file.js';
import { withRootfs, withRootfsTree } from './rootfs.js';
import { platformDirName, type PlatformImage } from './platforms.js';
import type { Exporter, ExportContext, ExportResponse, ImageBlobs } from './types.js';

export class RootfsTarExporter implements Exporter {
  readonly type = 'tar';
  constructor(private readonly dest: string) {}

  async export(result: BuildResult, _image: ImageBlobs, ctx: ExportContext): Promise<ExportResponse> {
    const where = await withRootfs(result, ctx, (root) =>
      withOutputFile(this.dest, 'tar archive', (out) => writeTree(root, out, ctx.signal), ctx.stdout),
    );
    return { message: `exporting rootfs to tar ${where}` };
  }

  /** Several platforms: one tar whose top-level dirs are the platforms (`linux_amd64/`, `linux_arm64/`), as buildx. */
  async exportPlatforms(images: PlatformImage[], ctx: ExportContext): Promise<ExportResponse> {
    const items = images.map((i) => ({ name: platformDirName(i.platform), result: i.result }));
    const where = await withRootfsTree(items, ctx, (root) => withOutputFile(this.dest, 'tar archive', (out) => writeTree(root, out, ctx.signal), ctx.stdout));
    return { message: `exporting rootfs to tar ${where}` };
  }
}

async function writeTree(root: string, out: Writable, signal?: AbortSignal): Promise<void> {
  let failed: unknown;
  const onError = (e: unknown) => (failed ??= e);
  out.on('error', onError);
  try {
    await tarTree(
      root,
      async (chunk) => {
        if (failed) throw failed;
        if (!out.write(chunk)) {
          await new Promise<void>((res, rej) => {
            const done = () => {
              out.off('drain', done);
              out.off('error', fail);
              res();
            };
            const fail = (e: unknown) => {
              out.off('drain', done);
              rej(e);
            };
            out.once('drain', done);
            out.once('error', fail);
          });
        }
      },
      signal,
    );
    await new Promise<void>((res, rej) => {
      if (failed) return rej(failed);
      out.once('error', rej);
      out.end(() => res());
    });
  } finally {
    out.off('error', onError);
  }
}
