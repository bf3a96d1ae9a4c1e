/** The real OpResolver: dispatches each op type to its implementation in ./ops. */
import type { ContentStore } from '../src/content/types.js';
import type { StatCache } from '../src/context/statcache.js';
import type { Executor } from '../src/executor/types.js';
import type { ImageStore } from '../src/imagestore/types.js';
import type { ImageSource } from '../src/llb/types.js';
import type { Snapshotter } from '../src/snapshot/types.js';
import { runExec } from './ops/exec.js';
import { runFile } from './ops/file.js';
import { resolveImage, type ResolvedImage } from './ops/image.js';
import { checksumLocalCopy, localSourceOf } from './ops/local.js';
import { unpackImage } from './ops/source.js';
import type { KeyContext, KeyFacts, OpOutput, OpResolver, RunContext } from './types.js';

export interface DefaultOpResolverOptions {
  content: ContentStore;
  snapshotter: Snapshotter;
  executor: Executor;
  images: ImageStore;
  locals: Record<string, string>;
  /** Scratch dir for temporary mount points. */
  stateDir: string;
  /** Content hashes of unchanged local files; the caller flushes it. */
  statCache?: StatCache;
}

export class DefaultOpResolver implements OpResolver {
  private readonly resolved = new Map<string, Promise<ResolvedImage>>();

  constructor(private readonly opts: DefaultOpResolverOptions) {}

  async keyFacts({ vertex }: KeyContext): Promise<KeyFacts> {
    const op = vertex.op;
    if (op.type === 'source' && op.source.kind === 'image') {
      const img = await this.image(vertex.digest, op.source);
      return { imageDigest: img.manifestDigest, imageLayers: img.layers };
    }
    if (op.type === 'file') {
      const localChecksums: Record<number, string> = {};
      for (const [i, action] of op.actions.entries()) {
        if (action.action !== 'copy') continue;
        const local = localSourceOf(vertex.inputs[action.sourceInput]?.op ?? op);
        if (!local) continue;
        localChecksums[i] = await checksumLocalCopy(action, local, {
          locals: this.opts.locals,
          ...(this.opts.statCache ? { statCache: this.opts.statCache } : {}),
        });
      }
      return { localChecksums };
    }
    return {};
  }

  async run(ctx: RunContext): Promise<OpOutput> {
    const op = ctx.vertex.op;
    switch (op.type) {
      case 'exec':
        return runExec(ctx, this.opts);
      case 'file':
        return runFile(ctx, this.opts);
      case 'source': {
        if (op.source.kind !== 'image') return { snapshot: null };
        const img = await this.image(ctx.vertex.digest, op.source);
        return { snapshot: await unpackImage(img, { ...this.opts, signal: ctx.signal }) };
      }
    }
  }

  private image(digest: string, source: ImageSource): Promise<ResolvedImage> {
    let p = this.resolved.get(digest);
    if (!p) {
      p = resolveImage(source, this.opts);
      this.resolved.set(digest, p);
      p.catch(() => this.resolved.delete(digest));
    }
    return p;
  }
}
