/** The real OpResolver: dispatches each op type to its implementation in ./ops. */
import type { ContentStore } from '../src/content/types.js';
import type { SelectionFile } from '../src/context/checksum.js';
import type { SourceSelection } from '../src/context/select.js';
import type { StatCache } from '../src/context/statcache.js';
import type { ContextWitness } from '../src/context/witness.js';
import type { Executor } from '../src/executor/types.js';
import type { ImageStore } from '../src/imagestore/types.js';
import type { CopyAction, ImageSource } from '../src/llb/types.js';
import type { Snapshotter } from '../src/snapshot/types.js';
import { runExec } from './ops/exec.js';
import type { ExecSandboxOptions } from './ops/exec-mounts.js';
import { runFile } from './ops/file.js';
import { resolveImage, type ResolvedImage } from './ops/image.js';
import { checksumLocalCopy, checksumLocalCopyDetailed, localSourceOf } from './ops/local.js';
import { unpackImage } from './ops/source.js';
import { download, materializeDownload, type Download } from './ops/http.js';
import type { KeyContext, KeyFacts, OpOutput, OpResolver, RunContext } from './types.js';

export interface DefaultOpResolverOptions {
  content: ContentStore;
  snapshotter: Snapshotter;
  executor: Executor;
  images: ImageStore;
  locals: Record<string, string>;
  /** Scratch dir for temporary mount points. */
  stateDir: string;
  /** RUN sandbox settings: limits, secrets, ssh agents, the cache-mount dir. */
  sandbox?: ExecSandboxOptions;
  /** Content hashes of unchanged local files; the caller flushes it. */
  statCache?: StatCache;
  /** Told every context path a cache key depended on (see src/context/witness.ts). */
  witness?: ContextWitness;
}

export class DefaultOpResolver implements OpResolver {
  private readonly resolved = new Map<string, Promise<ResolvedImage>>();
  private readonly downloads = new Map<string, Download>();

  constructor(private readonly opts: DefaultOpResolverOptions) {}

  async keyFacts({ vertex, signal }: KeyContext): Promise<KeyFacts> {
    const op = vertex.op;
    if (op.type === 'source' && op.source.kind === 'http') {
      // With --checksum the key is known without a download (the run verifies it); else download now.
      if (op.source.checksum !== undefined) return { httpDigest: op.source.checksum };
      const d = await download(op.source, this.opts, signal);
      this.downloads.set(vertex.digest, d);
      return { httpDigest: d.digest };
    }
    if (op.type === 'source' && op.source.kind === 'image') {
      const img = await this.image(vertex.digest, op.source);
      return { imageDigest: img.manifestDigest, imageLayers: img.layers };
    }
    if (op.type === 'file') {
      const localChecksums: Record<number, string> = {};
      const localFiles: Record<number, SelectionFile[]> = {};
      const localSelections: Record<number, SourceSelection[]> = {};
      for (const [i, action] of op.actions.entries()) {
        if (action.action !== 'copy') continue;
        const local = localSourceOf(vertex.inputs[action.sourceInput]?.op ?? op);
        if (!local) continue;
        const sum = await checksumLocalCopyDetailed(action, local, {
          locals: this.opts.locals,
          ...(this.opts.statCache ? { statCache: this.opts.statCache } : {}),
          ...(this.opts.witness ? { witness: this.opts.witness } : {}),
        });
        localChecksums[i] = sum.digest;
        localSelections[i] = sum.selection;
        if (sum.files) localFiles[i] = sum.files;
      }
      return { localChecksums, localFiles, localSelections };
    }
    if (op.type === 'exec' && op.mounts?.length) {
      const mountChecksums: Record<number, string> = {};
      for (const [i, m] of op.mounts.entries()) {
        const input = m.type === 'bind' || m.type === 'cache' ? m.input : undefined;
        if (input === undefined) continue;
        const local = localSourceOf(vertex.inputs[input]?.op ?? op);
        if (!local) continue;
        const action: CopyAction = { action: 'copy', sourceInput: input, src: [(m as { source?: string }).source ?? '.'], dest: '/', allowWildcard: false, followSymlinks: false };
        mountChecksums[i] = await checksumLocalCopy(action, local, {
          locals: this.opts.locals,
          ...(this.opts.statCache ? { statCache: this.opts.statCache } : {}),
          ...(this.opts.witness ? { witness: this.opts.witness } : {}),
        });
      }
      return { mountChecksums };
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
        if (op.source.kind === 'http') {
          let d = this.downloads.get(ctx.vertex.digest);
          if (!d || !(await this.opts.content.has(d.digest))) d = await download(op.source, this.opts, ctx.signal);
          return { snapshot: await materializeDownload(op.source, d, ctx.key, this.opts, ctx.noCache) };
        }
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
