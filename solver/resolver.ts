/** The real OpResolver: dispatches key facts and runs to each op kind's module (./ops/registry.ts). */
import type { BlobRecovery, ContentStore } from '../src/content/types.js';
import type { StatCache } from '../src/context/statcache.js';
import type { ContextWitness } from '../src/context/witness.js';
import type { Executor } from '../src/executor/types.js';
import type { ImageStore } from '../src/imagestore/types.js';
import type { Snapshotter } from '../src/snapshot/types.js';
import type { ExecSandboxOptions } from './ops/exec/mounts.js';
import { moduleOf, type OpEnv, type OpModules } from './ops/op.js';
import { OP_MODULES } from './ops/registry.js';
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
  /** The op modules; default: the registered ones. */
  modules?: OpModules;
  /** Fetches a missing or corrupt base layer blob again (src/content/fetch.ts). */
  blobs?: BlobRecovery;
}

export class DefaultOpResolver implements OpResolver {
  private readonly memo = new Map<string, Promise<unknown>>();
  private readonly env: OpEnv;
  private readonly modules: OpModules;

  constructor(opts: DefaultOpResolverOptions) {
    this.modules = opts.modules ?? OP_MODULES;
    this.env = {
      deps: opts,
      once: <T>(id: string, make: () => Promise<T>): Promise<T> => {
        let p = this.memo.get(id) as Promise<T> | undefined;
        if (!p) {
          p = make();
          this.memo.set(id, p);
          p.catch(() => this.memo.delete(id));
        }
        return p;
      },
    };
  }

  keyFacts(ctx: KeyContext): Promise<KeyFacts> {
    return moduleOf(this.modules, ctx.vertex.op, (m, op) => m.keyFacts(op, ctx, this.env));
  }

  run(ctx: RunContext): Promise<OpOutput> {
    return moduleOf(this.modules, ctx.vertex.op, (m, op) => m.run(op, ctx, this.env));
  }
}
