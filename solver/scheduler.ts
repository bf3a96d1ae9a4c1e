/**
 * The scheduler: solves a Graph in three phases.
 * 1. Keys: every reachable vertex's cache key, computed lazily in DAG order (inputs first, branches in
 *    parallel), and its cache record looked up (unless noCache).
 * 2. Needs: the output must exist; a vertex runs only if it misses and the output or a running dependent
 *    needs it. A hit's snapshot is never touched unless a dependent runs on it.
 * 3. Run: needed vertices run on a p-queue (deduped by digest, independent branches in parallel); the
 *    output's layer chain gets its layers (memoized in the cache records) as soon as each snapshot exists.
 * The first failure aborts everything else; solveGraph waits for in-flight work, then throws it as a VertexError.
 */
import { setMaxListeners } from 'node:events';
import { availableParallelism } from 'node:os';
import { StringDecoder } from 'node:string_decoder';
import PQueue from 'p-queue';
import { Diagnostics } from '../src/diagnostics.js';
import { TsbuildError, VertexError } from '../src/errors.js';
import type { SourceLocation } from '../src/errors.js';
import type { Layer } from '../src/image/types.js';
import type { CacheStep, VertexSummary } from '../src/llb/result.js';
import type { ImportedRecord } from '../src/cache/remote/format.js';
import type { ProgressSink } from '../src/progress/types.js';
import { cacheKey, cacheMap, type CacheMap } from './cachekey.js';
import { explainMiss, sameExceptLocalFiles, stepIdentities, type StepMemo } from './explain.js';
import type { CacheRecord, CacheStore } from './cachestore.js';
import type { Graph } from './graph.js';
import type { OpModules } from './ops/op.js';
import { baseLayersOf, isLayered, isTrivial, OP_MODULES } from './ops/registry.js';
import type { KeyFacts, OpResolver, PreviousBuild, Vertex } from './types.js';
import type { StepLocks } from './step-lock.js';

export interface SchedulerOptions {
  resolver: OpResolver;
  cache: CacheStore;
  /** Make the layer blob holding a committed snapshot's own changes. */
  createLayer(snapshot: string, signal: AbortSignal): Promise<Layer>;
  /** Whether a memoized layer's blob is still present; default: assume it is. */
  layerExists?(layer: Layer): Promise<boolean>;
  /**
   * A layer that takes longer than this to make is reported under its step (`vertex.status` "creating
   * layer", then the same with its duration), so the time after a big step's DONE is not silent; default 500 ms.
   */
  layerStatusAfterMs?: number;
  progress: ProgressSink;
  signal?: AbortSignal;
  noCache?: boolean;
  /** --no-cache-filter: stages (names or indexes, as in OpMetadata.stage) whose steps, and what depends on them, ignore the cache. */
  noCacheStages?: string[];
  /** Tells step identities (for explaining misses) of different projects apart, e.g. the locals' directories. */
  identitySalt?: string;
  /** Ops run at the same time; default max(2, CPUs). */
  concurrency?: number;
  /** Cross-process step locks: a missed step is built by one build of the store at a time (./step-lock.ts). */
  locks?: StepLocks;
  /**
   * --cache-from: records of cache sources, consulted when the local cache misses (src/cache/remote). A
   * promise while they load: keys are computed meanwhile, and the first local miss waits for it.
   */
  imported?: ImportedCacheLookup | Promise<ImportedCacheLookup | undefined>;
  /** The op modules (cache maps, explanations); default: the registered ones (./ops/registry.ts). */
  modules?: OpModules;
  /** Healing a hit whose snapshot is gone or broken (./restore.ts); default: trust the records. */
  heal?: {
    usable(snapshot: string): Promise<boolean>;
    restore(name: string, parent: string | null, layer: Layer, signal: AbortSignal): Promise<string>;
  };
}

/** The solver's one seam into imported cache sources. */
export interface ImportedCacheLookup {
  get(key: string): ImportedRecord | undefined;
  /** The committed snapshot of an imported record, made on `parent` (its layer fetched and applied). */
  restore(rec: ImportedRecord, parent: string | null, signal: AbortSignal): Promise<string>;
  /** Leave the output's snapshot unmade when it is an imported hit (no output reads the rootfs). */
  lazyOutput?: boolean;
  /** Why the sources have no usable record for a step that missed (for --explain), or undefined. */
  missReason?(key: string, parentKey: string | undefined, name: string): string | undefined;
}

/** The reason given for a step whose cache record was found but whose result is gone. */
export const RESULT_MISSING = 'cached result missing: rebuilt';

/** What one output of the graph became. */
export interface SolvedOutput {
  /** Committed snapshot of the output (null for an empty rootfs). */
  snapshot: string | null;
  /** The output's layer chain: base image layers, then one per exec/file op. */
  layers: Layer[];
  /** When the newest op of the output's chain was first built (from its cache record). */
  created?: string;
  /** Every exec/file step's cache facts (for --cache-to); `chain` marks this output's chain. */
  steps: CacheStep[];
}

/** The first output's result, every vertex's summary, and the results of the graph's other outputs. */
export interface SolvedGraph extends SolvedOutput {
  vertices: VertexSummary[];
  /** `graph.outputs[1..]`, in order (a multi-platform build's other platforms). */
  others: SolvedOutput[];
}

export async function solveGraph(graph: Graph, opts: SchedulerOptions): Promise<SolvedGraph> {
  return new Solve(graph, opts).run();
}

class Solve {
  private readonly ctrl = new AbortController();
  private firstError: unknown;
  private readonly keys = new Map<Vertex, Promise<string>>();
  private readonly keyOf = new Map<Vertex, string>();
  private readonly facts = new Map<Vertex, KeyFacts>();
  private readonly records = new Map<Vertex, CacheRecord | undefined>();
  /** Hits found only in a cache source; restored (snapshot made) only when something needs the snapshot. */
  private readonly importedHits = new Map<Vertex, ImportedRecord>();
  private readonly restoring = new Set<Vertex>();
  private readonly maps = new Map<Vertex, CacheMap>();
  /** Vertices that ignore the cache (--no-cache, --no-cache-filter and what depends on those). */
  private readonly forced = new Set<Vertex>();
  /** Why a vertex's cache lookup missed. */
  private readonly missReasons = new Map<Vertex, string[]>();
  /** A missed file op's previous build (key + file rows) when an incremental COPY may start from it. */
  private readonly previous = new Map<Vertex, { key: string; files: PreviousBuild['files'] }>();
  private readonly mustRun = new Set<Vertex>();
  /** Hits whose cached result turned out to be gone when it was needed: they run again, afresh. */
  private readonly rebuilt = new Set<Vertex>();
  private readonly mats = new Map<Vertex, Promise<string | null>>();
  private readonly durations = new Map<Vertex, number>();
  private readonly tracked: Promise<unknown>[] = [];
  private readonly queue: PQueue;
  private readonly layerQueue: PQueue;
  private readonly modules: OpModules;
  /** Explaining misses and writing step memos: best-effort (src/diagnostics.ts). */
  private readonly diagnostics: Diagnostics;
  /** The cache sources (opts.imported), set once loaded: read only after `importedReady`. */
  private imported: ImportedCacheLookup | undefined;
  private readonly importedReady: Promise<void>;

  constructor(
    private readonly graph: Graph,
    private readonly opts: SchedulerOptions,
  ) {
    this.importedReady = Promise.resolve(opts.imported).then((i) => {
      this.imported = i;
    });
    this.importedReady.catch(() => {}); // awaited at a local miss; a build whose every step hits never needs it
    const concurrency = opts.concurrency ?? Math.max(2, availableParallelism());
    this.queue = new PQueue({ concurrency });
    this.layerQueue = new PQueue({ concurrency });
    this.modules = opts.modules ?? OP_MODULES;
    this.diagnostics = new Diagnostics((message) => opts.progress.emit({ type: 'warning', message }));
    // Every queued task and running op listens on the one signal.
    setMaxListeners(0, this.ctrl.signal);
  }

  async run(): Promise<SolvedGraph> {
    const outer = this.opts.signal;
    const onAbort = () => this.ctrl.abort(outer?.reason);
    if (outer?.aborted) onAbort();
    outer?.addEventListener('abort', onAbort, { once: true });
    try {
      await Promise.all(this.graph.vertices.map((v) => this.key(v)));
      const outputs = this.graph.outputs;
      const chains = outputs.map((o) => this.chain(o));
      const lazy = outputs.map((o) => this.imported?.lazyOutput === true && this.importedHits.has(o));
      await this.decideNeeds(outputs, chains, lazy);
      // Start every step that runs (or is restored) in dependency order, so that mat() never descends a
      // long chain on one stack.
      for (const v of this.graph.vertices) if (this.mustRun.has(v) || this.restoring.has(v)) void this.mat(v);
      const made = await Promise.all(
        outputs.map((o, i) =>
          Promise.all([lazy[i] ? Promise.resolve(null) : this.track(this.mat(o)), ...chains[i]!.map((v) => this.track(this.layer(v)))]),
        ),
      );
      await Promise.all(this.writes.values());
      await Promise.all(this.released);
      const results = outputs.map((o, i): SolvedOutput => {
        const [snapshot, ...layers] = made[i]!;
        return {
          snapshot: snapshot as string | null,
          layers: [...this.baseLayers(o), ...(layers as Layer[]).reverse()],
          ...this.newestCreated(chains[i]!),
          steps: this.cacheSteps(chains[i]!),
        };
      });
      return { ...results[0]!, vertices: this.summaries(), others: results.slice(1) };
    } catch (err) {
      if (this.firstError === undefined && !this.ctrl.signal.aborted) this.firstError = err;
      this.ctrl.abort(this.firstError);
      // Wait for in-flight work (it sees the abort) so nothing runs or writes after solve returns.
      for (let n = -1; n !== this.tracked.length; ) {
        n = this.tracked.length;
        await Promise.allSettled(this.tracked);
      }
      if (this.firstError !== undefined) throw this.firstError;
      const reason: unknown = outer?.reason;
      throw reason instanceof Error ? reason : new TsbuildError('CANCELED', 'build canceled');
    } finally {
      outer?.removeEventListener('abort', onAbort);
    }
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.tracked.push(p);
    p.catch(() => {});
    return p;
  }

  // Phase 1: keys.
  private key(v: Vertex): Promise<string> {
    let p = this.keys.get(v);
    if (!p) {
      p = this.track(this.computeKey(v));
      this.keys.set(v, p);
    }
    return p;
  }

  private async computeKey(v: Vertex): Promise<string> {
    const inputKeys = await Promise.all(v.inputs.map((i) => this.key(i)));
    this.checkAborted();
    try {
      const facts = await this.opts.resolver.keyFacts({ vertex: v, signal: this.ctrl.signal });
      this.checkAborted();
      const map = cacheMap(v.op, v.inputs.map((i, n) => ({ op: i.op, key: inputKeys[n]! })), facts, this.modules);
      const key = cacheKey(map);
      this.facts.set(v, facts);
      this.keyOf.set(v, key);
      this.maps.set(v, map);
      if (this.trivial(v)) return key;
      const forced = this.forcedReason(v);
      if (forced) {
        this.forced.add(v);
        this.missReasons.set(v, [forced]);
        return key;
      }
      let rec = await this.opts.cache.get(key);
      if (!rec && isLayered(v.op, this.modules)) await this.importedReady; // only exec/file steps come from a source
      const imp = rec ? undefined : this.importedHit(v, key, inputKeys[0]);
      if (imp) {
        this.importedHits.set(v, imp);
        // Stands for the record until restore() makes its snapshot (never read before that).
        rec = { key, snapshot: '', layer: imp.layer, created: imp.created, name: v.metadata.description };
      }
      this.records.set(v, rec);
      await this.checkStep(v, key, map, facts, rec);
      if (!rec && this.opts.cache.resultLost(key)) this.missReasons.set(v, [RESULT_MISSING]);
      return key;
    } catch (err) {
      throw this.fail(v, err, false);
    }
  }

  /** A cache source's record for v: only exec/file steps, sitting on the snapshot of v's first input. */
  private importedHit(v: Vertex, key: string, parentKey: string | undefined): ImportedRecord | undefined {
    if (!isLayered(v.op, this.modules)) return undefined;
    const imp = this.imported?.get(key);
    return imp && imp.parent === parentKey ? imp : undefined;
  }

  /** Why v must ignore the cache, or undefined. Its inputs' keys (and so their forced state) are known. */
  private forcedReason(v: Vertex): string | undefined {
    if (this.opts.noCache) return '--no-cache';
    const stage = v.metadata.stage;
    if (stage !== undefined && this.opts.noCacheStages?.includes(stage)) return `--no-cache-filter ${stage}`;
    const input = v.inputs.find((i) => this.forced.has(i));
    return input ? `depends on a step that ignores the cache (${input.metadata.description})` : undefined;
  }

  private trivial(v: Vertex): boolean {
    return isTrivial(v.op, this.modules);
  }

  private identities(v: Vertex): string[] {
    return stepIdentities(v, this.opts.identitySalt ?? '');
  }

  /**
   * Compare with the step's memo: on a miss, say why; on a hit whose memo is of another variant (the
   * build went back to an earlier state), point the memo at this one, so the next miss is explained right.
   */
  private async checkStep(v: Vertex, key: string, map: CacheMap, facts: KeyFacts, rec: CacheRecord | undefined): Promise<void> {
    if (rec && !this.importedHits.has(v)) await this.opts.cache.touch(key);
    // Everything else here is a diagnostic (and the incremental COPY's hint): it never fails the build.
    await this.diagnostics.bestEffort('explaining cache misses', async () => {
      const ids = this.identities(v);
      const prev = await this.opts.cache.getStep(ids);
      if (rec) {
        if (prev?.key !== key || prev.ids[0] !== ids[0]) await this.opts.cache.putStep(this.memo(v, key, map, facts));
        return;
      }
      const files = prev && prev.key !== key && facts.localFiles ? await this.opts.cache.getStepFiles(prev) : undefined;
      const reasons = explainMiss(
        prev && (files ? { ...prev, files } : prev),
        { key, map, ...(facts.localFiles ? { files: facts.localFiles } : {}) },
        v.inputs.map((i) => i.metadata.description),
        { op: v.op, modules: this.modules },
      );
      const there = isLayered(v.op, this.modules) ? this.imported?.missReason?.(key, v.inputs[0] ? this.keyOf.get(v.inputs[0]) : undefined, v.metadata.description) : undefined;
      this.missReasons.set(v, there ? [...reasons, there] : reasons);
      if (prev && files && v.op.type === 'file' && sameExceptLocalFiles(prev.map, map)) this.previous.set(v, { key: prev.key, files });
    });
  }

  /** The previous build of a missed step whose result the op may reuse, if its record and snapshot still exist. */
  private async previousBuild(v: Vertex): Promise<PreviousBuild | undefined> {
    const prev = this.previous.get(v);
    const rec = prev && (await this.opts.cache.get(prev.key));
    if (rec && this.opts.heal && !(await this.opts.heal.usable(rec.snapshot))) return undefined;
    return prev && rec ? { snapshot: rec.snapshot, files: prev.files } : undefined;
  }

  private memo(v: Vertex, key: string, map: CacheMap, facts: KeyFacts): StepMemo {
    return { ids: this.identities(v), key, map, ...(facts.localFiles ? { files: facts.localFiles } : {}), at: new Date().toISOString() };
  }

  // Phase 2: which vertices must run.
  private async decideNeeds(outputs: Vertex[], chains: Vertex[][], lazy: boolean[]): Promise<void> {
    // v's snapshot is needed: run it ('visit'), or restore an imported hit (which needs its parent's
    // snapshot). A worklist, not recursion: a chain of thousands of steps must not overflow the stack.
    const work: { v: Vertex; how: 'need' | 'visit' }[] = [];
    const drain = (): void => {
      while (work.length > 0) {
        const { v, how } = work.pop()!;
        if (how === 'need' && this.importedHits.has(v)) {
          if (this.restoring.has(v)) continue;
          this.restoring.add(v);
          if (v.inputs[0]) work.push({ v: v.inputs[0], how: 'need' });
          continue;
        }
        if (this.trivial(v) || this.mustRun.has(v) || this.records.get(v)) continue;
        this.mustRun.add(v);
        for (const i of v.inputs) work.push({ v: i, how: 'need' });
      }
    };
    const need = (v: Vertex): void => {
      work.push({ v, how: 'need' });
      drain();
    };
    const visit = (v: Vertex): void => {
      work.push({ v, how: 'visit' });
      drain();
    };
    outputs.forEach((o, i) => {
      if (!lazy[i]) need(o);
    });
    // A chain step whose layer is not memoized needs its snapshot to make one.
    const chain = [...new Set(chains.flat())];
    const memo = await Promise.all(chain.map((v) => this.memoizedLayer(v)));
    chain.forEach((v, i) => {
      if (!memo[i]) visit(v);
    });
    for (const v of this.graph.vertices) {
      if (this.trivial(v) || this.mustRun.has(v)) continue;
      this.opts.progress.emit({ type: 'vertex.cached', id: v.digest, name: v.metadata.description, at: Date.now() });
    }
  }

  // Phase 3: materialize snapshots (running only what must run) and make the chain's layers.
  private mat(v: Vertex): Promise<string | null> {
    let p = this.mats.get(v);
    if (!p) {
      p = this.track(this.materialize(v));
      this.mats.set(v, p);
    }
    return p;
  }

  private async materialize(v: Vertex): Promise<string | null> {
    if (this.trivial(v)) return null;
    const imp = this.importedHits.get(v);
    if (imp) return this.restore(v, imp);
    if (!this.mustRun.has(v)) {
      const snapshot = await this.hitSnapshot(v);
      if (snapshot !== undefined) return snapshot;
      this.mustRun.add(v);
      if (this.records.get(v)) {
        // Its result is gone and cannot be made from its layer: run the step again, afresh.
        this.rebuilt.add(v);
        this.missReasons.set(v, [RESULT_MISSING]);
      }
      // (No record: needed only now, under a step whose imported result could not be restored.)
    }
    return this.runNow(v);
  }

  private async runNow(v: Vertex): Promise<string | null> {
    const inputs = await Promise.all(v.inputs.map((i) => this.mat(i)));
    this.checkAborted();
    // No signal for add(): p-queue would reject at once on abort while the task still runs; a task that
    // starts after the abort throws right away instead (execute checks the signal first).
    return this.queue.add(() => this.once(v, () => this.execute(v, inputs)));
  }

  /**
   * The snapshot of a hit that is about to be used: checked (cheaply: metadata and dirs of its chain), made
   * again from the record's layer blob when it is gone; undefined when it cannot be (the step must run).
   */
  private async hitSnapshot(v: Vertex): Promise<string | undefined> {
    const rec = this.records.get(v);
    const heal = this.opts.heal;
    if (!rec || !heal) return rec?.snapshot;
    try {
      if (await heal.usable(rec.snapshot)) return rec.snapshot;
      const layer = rec.layer;
      if (!layer || !(await (this.opts.layerExists?.(layer) ?? true))) return undefined;
      const parent = v.inputs[0] ? await this.mat(v.inputs[0]) : null;
      this.checkAborted();
      const snapshot = await this.queue.add(() => {
        this.checkAborted();
        return heal.restore(rec.snapshot, parent, layer, this.ctrl.signal);
      });
      const healed = { ...rec, snapshot };
      this.records.set(v, healed);
      if (snapshot !== rec.snapshot) await this.opts.cache.put(healed);
      return snapshot;
    } catch (err) {
      throw this.fail(v, err, false);
    }
  }

  /**
   * Run a missed step under its cross-process lock (./step-lock.ts); when another build wrote the step's
   * record meanwhile, use that instead. Steps that ignore the cache (--no-cache) always run.
   * The lock is released once the step's record is written (another build waiting for it then finds the
   * record), but the step's result is handed on as soon as the step is done: this build's next step does
   * not wait for that write and release; the solve does, before it returns (`released`).
   */
  private async once(v: Vertex, run: () => Promise<string | null>): Promise<string | null> {
    if (!this.opts.locks || this.forced.has(v)) return run();
    this.checkAborted();
    const key = this.keyOf.get(v)!;
    const lock = await this.opts.locks.acquire(key, this.ctrl.signal);
    let releasing = false;
    try {
      const rec = this.rebuilt.has(v) ? undefined : await this.opts.cache.get(key);
      if (rec) return await this.adopt(v, rec);
      const out = await run();
      // a failed write fails the solve through `writes`; the lock is released either way
      const written = (this.writes.get(v) ?? Promise.resolve()).then(
        () => {},
        () => {},
      );
      this.released.push(this.track(written.then(() => lock.release())));
      releasing = true;
      return out;
    } finally {
      if (!releasing) await lock.release();
    }
  }

  /** Use a record another build wrote while this one waited for the step's lock: the step counts as cached. */
  private async adopt(v: Vertex, rec: CacheRecord): Promise<string> {
    this.records.set(v, rec);
    this.mustRun.delete(v);
    if (rec.layer && (await (this.opts.layerExists?.(rec.layer) ?? true))) this.memoLayers.set(v, rec.layer);
    this.opts.progress.emit({ type: 'vertex.cached', id: v.digest, name: v.metadata.description, at: Date.now() });
    return rec.snapshot;
  }

  private async execute(v: Vertex, inputSnapshots: (string | null)[]): Promise<string | null> {
    this.checkAborted();
    const { progress } = this.opts;
    const name = v.metadata.description;
    const key = this.keyOf.get(v)!;
    const t0 = Date.now();
    const miss = this.missReasons.get(v);
    progress.emit({ type: 'vertex.started', id: v.digest, name, at: t0, ...(miss ? { cacheMiss: miss } : {}) });
    const decoders = { stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8') };
    try {
      const previous = await this.previousBuild(v);
      const out = await this.opts.resolver.run({
        vertex: v,
        key,
        facts: this.facts.get(v) ?? {},
        inputs: v.inputs.map((i, n) => ({ vertex: i, key: this.keyOf.get(i)!, snapshot: inputSnapshots[n]! })),
        signal: this.ctrl.signal,
        noCache: (this.opts.noCache ?? false) || this.rebuilt.has(v),
        ...(previous ? { previous } : {}),
        log: (stream, data) => {
          const text = typeof data === 'string' ? data : decoders[stream].write(data);
          if (text) progress.emit({ type: 'vertex.log', id: v.digest, stream, data: text });
        },
      });
      this.checkAborted();
      if (out.snapshot !== null) {
        const rec: CacheRecord = { key, snapshot: out.snapshot, created: new Date().toISOString(), name };
        this.records.set(v, rec);
        // Off the critical path: the next step need not wait for these files; layer() waits before it
        // rewrites the record, run() before it returns (and after a failure, for everything in flight).
        const memo = this.memo(v, key, this.maps.get(v)!, this.facts.get(v) ?? {});
        const written = Promise.all([
          this.opts.cache.put(rec),
          this.diagnostics.bestEffort('writing step memos', () => this.opts.cache.putStep(memo)),
        ]).catch((err: unknown) => {
          throw this.fail(v, err, false);
        });
        this.writes.set(v, this.track(written));
      }
      const durationMs = Date.now() - t0;
      this.durations.set(v, durationMs);
      progress.emit({ type: 'vertex.done', id: v.digest, name, at: Date.now(), durationMs });
      return out.snapshot;
    } catch (err) {
      throw this.fail(v, err, true);
    }
  }

  /** Make an imported hit's snapshot on its parent's, and keep it as a local record. */
  private async restore(v: Vertex, imp: ImportedRecord): Promise<string> {
    const parent = v.inputs[0] ? await this.mat(v.inputs[0]) : null;
    this.checkAborted();
    try {
      const snapshot = await this.queue.add(() => {
        this.checkAborted();
        return this.imported!.restore(imp, parent, this.ctrl.signal);
      });
      this.checkAborted();
      const rec: CacheRecord = { key: imp.key, snapshot, layer: imp.layer, created: imp.created, name: v.metadata.description };
      this.records.set(v, rec);
      await this.opts.cache.put(rec);
      return snapshot;
    } catch (err) {
      if (this.ctrl.signal.aborted || this.firstError !== undefined) throw this.fail(v, err, false);
      // A source is untrusted: a blob that is missing, wrong or unreadable costs only this step's run.
      const why = `cache source ${imp.source}: ${err instanceof Error ? err.message : String(err)}`;
      this.opts.progress.emit({ type: 'warning', message: `${v.metadata.description}: ${why}; running the step instead` });
      this.importedHits.delete(v);
      this.records.set(v, undefined);
      this.missReasons.set(v, [why]);
      this.mustRun.add(v);
      return this.runNow(v) as Promise<string>;
    }
  }

  /** The output's chain (output → inputs[0] → …) down to, not including, the op that starts it: layered ops (exec, file) only. */
  private chain(output: Vertex): Vertex[] {
    const out: Vertex[] = [];
    let v = output;
    while (isLayered(v.op, this.modules)) {
      out.push(v);
      const parent = v.inputs[0];
      if (!parent) throw new TsbuildError('INVALID_DEFINITION', `invalid build definition: op ${v.digest} has no parent input`);
      v = parent;
    }
    return out;
  }

  private baseLayers(output: Vertex): Layer[] {
    let v = output;
    while (isLayered(v.op, this.modules)) v = v.inputs[0]!;
    return baseLayersOf(v.op, this.facts.get(v) ?? {}, this.modules);
  }

  /** The layer of a chain step, made once even when several outputs' chains share the step. */
  private layer(v: Vertex): Promise<Layer> {
    let p = this.layers.get(v);
    if (!p) {
      p = this.makeLayer(v);
      this.layers.set(v, p);
    }
    return p;
  }

  private readonly layers = new Map<Vertex, Promise<Layer>>();

  private async makeLayer(v: Vertex): Promise<Layer> {
    // A restore that fails runs the step instead, whose layer is then made below.
    if (this.importedHits.has(v) && this.restoring.has(v)) await this.mat(v);
    const memo = this.mustRun.has(v) ? undefined : this.memoLayers.get(v);
    if (memo) return memo;
    const snapshot = await this.mat(v);
    this.checkAborted();
    const adopted = this.mustRun.has(v) ? undefined : this.memoLayers.get(v);
    if (adopted) return adopted;
    try {
      if (snapshot === null) throw new TsbuildError('INTERNAL', 'an exec or file op produced no snapshot');
      const layer = await this.layerQueue.add(() => {
        this.checkAborted();
        return this.visibleLayer(v, this.opts.createLayer(snapshot, this.ctrl.signal));
      });
      this.checkAborted();
      await this.writes.get(v);
      const prev = this.records.get(v);
      const created = prev?.created ?? new Date().toISOString();
      await this.opts.cache.put({ ...(prev?.snapshot === snapshot ? prev : {}), key: this.keyOf.get(v)!, snapshot, layer, created, name: v.metadata.description });
      this.memoLayers.set(v, layer);
      return layer;
    } catch (err) {
      throw this.fail(v, err, false);
    }
  }

  /**
   * Report a layer in the making under its step once it has taken longer than `layerStatusAfterMs` (as
   * BuildKit's timed statuses): `vertex.status` "creating layer", then the same with its duration (not when
   * it fails: the step's error says).
   */
  private async visibleLayer(v: Vertex, making: Promise<Layer>): Promise<Layer> {
    const id = v.digest;
    const name = 'creating layer';
    const t0 = Date.now();
    let shown = false;
    const timer = setTimeout(() => {
      shown = true;
      this.opts.progress.emit({ type: 'vertex.status', id, name, at: t0 });
    }, this.opts.layerStatusAfterMs ?? 500);
    try {
      const layer = await making;
      if (shown) this.opts.progress.emit({ type: 'vertex.status', id, name, at: t0, durationMs: Date.now() - t0 });
      return layer;
    } finally {
      clearTimeout(timer);
    }
  }

  private readonly memoLayers = new Map<Vertex, Layer>();
  /** The cache record and step memo writes of each executed vertex. */
  private readonly writes = new Map<Vertex, Promise<unknown>>();
  /** Step locks released after their step's record was written (once()). */
  private readonly released: Promise<void>[] = [];

  /** The latest `created` of the chain's records, so an unchanged rebuild reproduces the image exactly. */
  private newestCreated(chain: Vertex[]): { created?: string } {
    const times = chain.map((v) => this.records.get(v)?.created).filter((t): t is string => t !== undefined);
    return times.length ? { created: times.sort().at(-1)! } : {};
  }

  private async memoizedLayer(v: Vertex): Promise<Layer | undefined> {
    const imp = this.importedHits.get(v);
    if (imp) {
      // A source's layer blob is fetched only when an output needs its bytes (src/cache/remote/lazy.ts).
      this.memoLayers.set(v, imp.layer);
      return imp.layer;
    }
    const layer = this.records.get(v)?.layer;
    if (!layer || !(await (this.opts.layerExists?.(layer) ?? true))) return undefined;
    this.memoLayers.set(v, layer);
    return layer;
  }

  private summaries(): VertexSummary[] {
    return this.graph.vertices
      .filter((v) => !this.trivial(v))
      .map((v): VertexSummary => {
        const cached = !this.mustRun.has(v);
        const miss = this.missReasons.get(v);
        return {
          id: v.digest,
          name: v.metadata.description,
          cached,
          durationMs: this.durations.get(v) ?? 0,
          cacheKey: this.keyOf.get(v)!,
          ...(!cached && miss ? { cacheMiss: miss } : {}),
          ...(cached && this.records.get(v) ? { cachedFrom: this.records.get(v)!.created } : {}),
          ...(cached && this.importedHits.has(v) ? { cacheSource: this.importedHits.get(v)!.source } : {}),
        };
      });
  }

  /** Every exec/file step with a key: its parent, snapshot, layer (for --cache-to). */
  private cacheSteps(chain: Vertex[]): CacheStep[] {
    const inChain = new Set(chain);
    const out: CacheStep[] = [];
    for (const v of this.graph.vertices) {
      if (!isLayered(v.op, this.modules)) continue;
      const key = this.keyOf.get(v);
      const rec = this.records.get(v);
      if (!key || !rec) continue;
      const parent = v.inputs[0] ? this.keyOf.get(v.inputs[0]) : undefined;
      const layer = inChain.has(v) ? this.memoLayers.get(v) ?? rec.layer : rec.layer;
      out.push({
        key,
        ...(parent ? { parent } : {}),
        chain: inChain.has(v),
        ...(rec.snapshot ? { snapshot: rec.snapshot } : {}),
        ...(layer ? { layer } : {}),
        created: rec.created,
        name: v.metadata.description,
      });
    }
    return out;
  }

  private checkAborted(): void {
    if (this.ctrl.signal.aborted) throw this.ctrl.signal.reason ?? new TsbuildError('CANCELED', 'build canceled');
  }

  /** Record a vertex's failure. The first failure aborts everything; later ones (cancellations) are reported as skipped. */
  private fail(v: Vertex, err: unknown, started: boolean): unknown {
    const name = v.metadata.description;
    if (this.ctrl.signal.aborted || this.firstError !== undefined) {
      if (started) this.opts.progress.emit({ type: 'vertex.skipped', id: v.digest, name, reason: 'canceled' });
      return this.firstError ?? err;
    }
    const loc = v.metadata.location;
    const location: SourceLocation | undefined = loc ? { file: loc.file, line: loc.line } : undefined;
    const wrapped = err instanceof VertexError ? err : new VertexError(name, err, location);
    this.firstError = wrapped;
    this.opts.progress.emit({ type: 'vertex.failed', id: v.digest, name, at: Date.now(), error: wrapped.message });
    this.ctrl.abort(wrapped);
    return wrapped;
  }
}
