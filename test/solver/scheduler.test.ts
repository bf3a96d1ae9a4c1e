import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VertexError } from '../../src/errors.js';
import type { Layer } from '../../src/image/types.js';
import { opDigest, sha256 } from '../../src/llb/digest.js';
import type { Definition, Digest, Op, OpMetadata } from '../../src/llb/types.js';
import type { ProgressEvent } from '../../src/progress/types.js';
import { CacheStore, type CacheRecord } from '../../solver/cachestore.js';
import { fileStepLocks, type StepLocks } from '../../solver/step-lock.js';
import { stopHelper } from '../../src/proc/helper.js';
import { buildGraph } from '../../solver/graph.js';
import { solveGraph, type ImportedCacheLookup, type SchedulerOptions } from '../../solver/scheduler.js';
import type { KeyFacts, OpResolver, RunContext, Vertex } from '../../solver/types.js';

/** Builds a Definition op by op; each helper returns the op's digest. */
class DefBuilder {
  ops: Record<Digest, Op> = {};
  metadata: Record<Digest, OpMetadata> = {};
  add(op: Op, description: string, line?: number): Digest {
    const d = opDigest(op);
    this.ops[d] = op;
    this.metadata[d] = { description, ...(line ? { location: { file: 'Dockerfile', line } } : {}) };
    return d;
  }
  scratch(): Digest {
    return this.add({ type: 'source', inputs: [], source: { kind: 'scratch' } }, 'scratch');
  }
  image(ref: string): Digest {
    return this.add({ type: 'source', inputs: [], source: { kind: 'image', ref } }, `FROM ${ref}`);
  }
  exec(parent: Digest, cmd: string, line?: number): Digest {
    const op: Op = { type: 'exec', inputs: [parent], args: ['/bin/sh', '-c', cmd], env: [], cwd: '/', user: '', network: 'default' };
    return this.add(op, `RUN ${cmd}`, line);
  }
  copyFrom(dest: Digest, ...srcs: Digest[]): Digest {
    const op: Op = {
      type: 'file',
      inputs: [dest, ...srcs],
      actions: srcs.map((_, i) => ({ action: 'copy' as const, sourceInput: i + 1, src: ['/'], dest: `/from${i}/`, allowWildcard: false, followSymlinks: false })),
    };
    return this.add(op, `COPY from ${srcs.length} stages`);
  }
  def(output: Digest): Definition {
    return {
      version: 1,
      ops: this.ops,
      metadata: this.metadata,
      output,
      image: { architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [] } },
    };
  }
}

/** A fake OpResolver: snapshots are names in a Set; runs are counted; behaviour per description can be overridden. */
class FakeOps implements OpResolver {
  snapshots = new Set<string>();
  runs: string[] = [];
  keyFactCalls = 0;
  inputsSeen = new Map<string, (string | null)[]>();
  behaviour = new Map<string, (ctx: RunContext) => Promise<void>>();

  async keyFacts({ vertex }: { vertex: Vertex }): Promise<KeyFacts> {
    this.keyFactCalls++;
    const op = vertex.op;
    if (op.type === 'source' && op.source.kind === 'image') {
      const diffID = sha256(op.source.ref);
      return { imageDigest: sha256('manifest ' + op.source.ref), imageLayers: [{ diffID, descriptor: { mediaType: 'x', digest: sha256('blob ' + op.source.ref), size: 1 } }] };
    }
    return {};
  }

  async run(ctx: RunContext): Promise<{ snapshot: string | null }> {
    const name = ctx.vertex.metadata.description;
    this.runs.push(name);
    this.inputsSeen.set(name, ctx.inputs.map((i) => i.snapshot));
    const b = this.behaviour.get(name);
    if (b) await b(ctx);
    ctx.log('stdout', Buffer.from(`ran ${name}\n`));
    const snapshot = `snap:${ctx.key}:${this.runs.length}`;
    this.snapshots.add(snapshot);
    return { snapshot };
  }
}

let dir: string;
let ops: FakeOps;
let events: ProgressEvent[];
let layerCalls: string[];

function options(extra: Partial<SchedulerOptions> = {}): SchedulerOptions {
  return {
    resolver: ops,
    cache: new CacheStore({ dir: join(dir, 'cache'), snapshotExists: async (n) => ops.snapshots.has(n) }),
    createLayer: async (snapshot) => {
      layerCalls.push(snapshot);
      const diffID = sha256('diff ' + snapshot);
      const layer: Layer = { diffID, descriptor: { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256('gz ' + snapshot), size: 10 } };
      return layer;
    },
    progress: { emit: (e) => events.push(e) },
    concurrency: 4,
    ...extra,
  };
}

const solve = (def: Definition, extra: Partial<SchedulerOptions> = {}) => solveGraph(buildGraph(def), options(extra));

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tsbuild-sched-'));
  ops = new FakeOps();
  events = [];
  layerCalls = [];
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Resolves when `n` calls to the returned `arrive()` have happened; rejects after `ms`. */
function barrier(n: number, ms = 5000): { arrive: () => Promise<void> } {
  let count = 0;
  let release!: () => void;
  const all = new Promise<void>((r) => (release = r));
  return {
    arrive: async () => {
      if (++count === n) release();
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error('barrier timeout: ops did not overlap')), ms)));
      try {
        await Promise.race([all, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

describe('scheduler', () => {
  it('runs a chain in order, emits progress, and builds the layer chain', async () => {
    const b = new DefBuilder();
    const base = b.image('docker.io/library/busybox:latest');
    const e1 = b.exec(base, 'one');
    const e2 = b.exec(e1, 'two');
    const res = await solve(b.def(e2));
    expect(ops.runs).toEqual(['FROM docker.io/library/busybox:latest', 'RUN one', 'RUN two']);
    expect(ops.inputsSeen.get('RUN two')).toEqual([res.snapshot === null ? null : expect.stringMatching(/^snap:/)]);
    expect(res.layers).toHaveLength(3);
    expect(res.layers[0]!.diffID).toBe(sha256('docker.io/library/busybox:latest'));
    // Layer order: base, then RUN one, then RUN two (made from their own snapshots).
    const snapOf = (name: string) => ops.inputsSeen.get(name)![0];
    expect(res.layers[1]!.diffID).toBe(sha256('diff ' + snapOf('RUN two')));
    expect(res.layers[2]!.diffID).toBe(sha256('diff ' + res.snapshot));
    expect(res.vertices.map((v) => [v.name, v.cached])).toEqual([
      ['FROM docker.io/library/busybox:latest', false],
      ['RUN one', false],
      ['RUN two', false],
    ]);
    const types = events.filter((e) => e.type !== 'vertex.log').map((e) => `${e.type} ${'name' in e ? e.name : ''}`);
    expect(types).toContain('vertex.done RUN two');
    expect(events.find((e) => e.type === 'vertex.done' && e.name === 'RUN one')).toMatchObject({ durationMs: expect.any(Number) });
    expect(events.filter((e) => e.type === 'vertex.log').map((e) => (e as { data: string }).data)).toContain('ran RUN two\n');
  });

  it('a layer slower than layerStatusAfterMs gets its own progress line after the step; a fast one none', async () => {
    const b = new DefBuilder();
    const base = b.image('docker.io/library/busybox:latest');
    const e1 = b.exec(base, 'big');
    const slow = (snapshot: string) => new Promise<Layer>((res) => setTimeout(() => res({ diffID: sha256('diff ' + snapshot), descriptor: { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256('diff ' + snapshot), size: 10 } }), 50));
    await solve(b.def(e1), { createLayer: slow, layerStatusAfterMs: 0 });
    const statuses = events.filter((e) => e.type === 'vertex.status');
    expect(statuses).toEqual([
      { type: 'vertex.status', id: e1, name: 'creating layer', at: expect.any(Number) },
      { type: 'vertex.status', id: e1, name: 'creating layer', at: expect.any(Number), durationMs: expect.any(Number) },
    ]);
    // after the step's DONE
    expect(events.indexOf(statuses[0]!)).toBeGreaterThan(events.findIndex((e) => e.type === 'vertex.done' && e.name === 'RUN big'));

    events = [];
    ops = new FakeOps();
    dir = await mkdtemp(join(tmpdir(), 'tsbuild-sched-'));
    await solve(b.def(e1), { createLayer: slow, layerStatusAfterMs: 60_000 });
    expect(events.some((e) => e.type === 'vertex.status')).toBe(false);
  });

  it('solves a 3,000-deep COPY --from chain without overflowing the stack (graph, needs, materialize)', async () => {
    const b = new DefBuilder();
    const base = b.image('docker.io/library/busybox:latest');
    let prev = b.exec(base, 'start');
    for (let i = 0; i < 3000; i++) prev = b.add({ ...(b.ops[b.copyFrom(base, prev)] as Op) }, `COPY --from=s${i}`);
    const res = await solve(b.def(prev));
    expect(ops.runs).toHaveLength(3002);
    expect(ops.runs.at(-1)).toBe('COPY --from=s2999');
    expect(res.layers).toHaveLength(2);
  }, 120_000);

  it('dedupes a vertex shared by two dependents (runs it once)', async () => {
    const b = new DefBuilder();
    const s = b.scratch();
    const shared = b.exec(s, 'shared');
    const left = b.exec(shared, 'left');
    const right = b.exec(shared, 'right');
    const out = b.copyFrom(left, right, shared);
    await solve(b.def(out));
    expect(ops.runs.filter((r) => r === 'RUN shared')).toHaveLength(1);
    expect(ops.runs).toHaveLength(4);
    expect(ops.keyFactCalls).toBe(5);
  });

  it('runs independent branches in parallel', async () => {
    const b = new DefBuilder();
    const s = b.scratch();
    const a = b.exec(s, 'stage-a');
    const c = b.exec(s, 'stage-b');
    const out = b.copyFrom(b.exec(s, 'final'), a, c);
    const bar = barrier(2);
    // Each branch only finishes once the other one has started: a serial scheduler would time out.
    ops.behaviour.set('RUN stage-a', () => bar.arrive());
    ops.behaviour.set('RUN stage-b', () => bar.arrive());
    await solve(b.def(out));
    expect(ops.runs.slice(-1)).toEqual(['COPY from 2 stages']);
  });

  it('aborts everything on the first failure and reports it with the step and location', async () => {
    const b = new DefBuilder();
    const s = b.scratch();
    const bad = b.exec(s, 'bad', 7);
    const slow = b.exec(s, 'slow');
    const out = b.copyFrom(b.exec(s, 'final'), bad, slow);
    let slowAborted = false;
    let slowStarted!: () => void;
    const started = new Promise<void>((r) => (slowStarted = r));
    ops.behaviour.set('RUN slow', (ctx) => {
      slowStarted();
      return new Promise<void>((_, rej) => {
        ctx.signal.addEventListener('abort', () => {
          // Cleanup takes a while: solve must wait for it before it rejects.
          setTimeout(() => {
            slowAborted = true;
            rej(new Error('aborted'));
          }, 50);
        });
      });
    });
    ops.behaviour.set('RUN bad', async () => {
      await started;
      throw new Error('exploded');
    });
    const err = await solve(b.def(out)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VertexError);
    expect((err as VertexError).message).toBe('RUN bad: exploded');
    expect((err as VertexError).location).toEqual({ file: 'Dockerfile', line: 7 });
    expect(slowAborted).toBe(true);
    expect(ops.runs).not.toContain('COPY from 2 stages');
    expect(events.filter((e) => e.type === 'vertex.failed').map((e) => (e as { name: string }).name)).toEqual(['RUN bad']);
    expect(events.some((e) => e.type === 'vertex.skipped' && e.name === 'RUN slow')).toBe(true);
  });

  it('stops when the caller aborts', async () => {
    const b = new DefBuilder();
    const e = b.exec(b.scratch(), 'hang');
    const ctrl = new AbortController();
    ops.behaviour.set('RUN hang', (ctx) => {
      setTimeout(() => ctrl.abort(new Error('interrupted')), 10);
      return new Promise((_, rej) => ctx.signal.addEventListener('abort', () => rej(new Error('killed'))));
    });
    await expect(solve(b.def(e), { signal: ctrl.signal })).rejects.toThrow('interrupted');
  });

  it('visits only ops reachable from the output', async () => {
    const b = new DefBuilder();
    const s = b.scratch();
    b.exec(s, 'unreachable');
    const out = b.exec(s, 'wanted');
    ops.behaviour.set('RUN unreachable', async () => {
      throw new Error('must not run');
    });
    const res = await solve(b.def(out));
    expect(ops.runs).toEqual(['RUN wanted']);
    expect(ops.keyFactCalls).toBe(2);
    expect(res.vertices.map((v) => v.name)).toEqual(['RUN wanted']);
  });

  it('an unchanged rebuild runs nothing and creates no layer; a changed step invalidates it and every later step', async () => {
    const build = (second: string) => {
      const b = new DefBuilder();
      const base = b.image('docker.io/library/busybox:latest');
      const e1 = b.exec(base, 'one');
      const e2 = b.exec(e1, second);
      return b.def(b.exec(e2, 'three'));
    };
    const first = await solve(build('two'));
    expect(ops.runs).toHaveLength(4);
    expect(layerCalls).toHaveLength(3);

    ops.runs = [];
    layerCalls = [];
    events = [];
    const again = await solve(build('two'));
    expect(ops.runs).toEqual([]);
    expect(layerCalls).toEqual([]);
    expect(again.layers).toEqual(first.layers);
    expect(again.snapshot).toBe(first.snapshot);
    expect(again.vertices.every((v) => v.cached)).toBe(true);
    expect(events.filter((e) => e.type === 'vertex.cached')).toHaveLength(4);
    expect(events.filter((e) => e.type === 'vertex.started')).toHaveLength(0);

    ops.runs = [];
    layerCalls = [];
    const changed = await solve(build('TWO'));
    expect(ops.runs).toEqual(['RUN TWO', 'RUN three']);
    // RUN TWO ran on the cached snapshot of RUN one, which was itself not touched.
    expect(ops.inputsSeen.get('RUN TWO')).toEqual([ops.inputsSeen.get('RUN two')![0]]);
    expect(layerCalls).toHaveLength(2);
    expect(changed.layers.slice(0, 2)).toEqual(first.layers.slice(0, 2));
    expect(changed.layers[2]).not.toEqual(first.layers[2]);
    expect(changed.vertices.map((v) => [v.name, v.cached])).toEqual([
      ['FROM docker.io/library/busybox:latest', true],
      ['RUN one', true],
      ['RUN TWO', false],
      ['RUN three', false],
    ]);
  });

  it('treats a record whose snapshot is gone as a miss and deletes it', async () => {
    const b = new DefBuilder();
    const e1 = b.exec(b.scratch(), 'one');
    const def = b.def(b.exec(e1, 'two'));
    await solve(def);
    const oneSnap = ops.inputsSeen.get('RUN two')![0]!;
    ops.snapshots.delete(oneSnap);
    ops.runs = [];
    await solve(def);
    // RUN two still hits, but RUN one's layer memo went with its record: it runs again to make its layer.
    expect(ops.runs).toEqual(['RUN one']);
    ops.runs = [];
    // Now lose RUN two's snapshot: only RUN two runs, on RUN one's cached snapshot.
    const res1 = await solve(def);
    expect(ops.runs).toEqual([]);
    ops.snapshots.delete(res1.snapshot!);
    await solve(def);
    expect(ops.runs).toEqual(['RUN two']);
    expect(await readdir(join(dir, 'cache', 'records'))).toHaveLength(2);
  });

  it('does not unpack a missing base image when every step using it hits', async () => {
    const b = new DefBuilder();
    const base = b.image('docker.io/library/alpine:3');
    const def = b.def(b.exec(base, 'x'));
    await solve(def);
    const baseSnap = ops.inputsSeen.get('RUN x')![0]!;
    ops.snapshots.delete(baseSnap);
    ops.runs = [];
    const res = await solve(def);
    expect(ops.runs).toEqual([]);
    expect(res.layers).toHaveLength(2);
  });

  it('noCache ignores records but writes them', async () => {
    const b = new DefBuilder();
    const def = b.def(b.exec(b.scratch(), 'one'));
    await solve(def);
    ops.runs = [];
    layerCalls = [];
    const fresh = await solve(def, { noCache: true });
    expect(ops.runs).toEqual(['RUN one']);
    expect(layerCalls).toHaveLength(1);
    ops.runs = [];
    const cached = await solve(def);
    expect(ops.runs).toEqual([]);
    expect(cached.snapshot).toBe(fresh.snapshot);
  });

  it('recreates a memoized layer whose blob is gone', async () => {
    const b = new DefBuilder();
    const def = b.def(b.exec(b.scratch(), 'one'));
    await solve(def);
    layerCalls = [];
    const res = await solve(def, { layerExists: async () => false });
    expect(ops.runs).toEqual(['RUN one']);
    expect(layerCalls).toHaveLength(1);
    expect(res.layers).toHaveLength(1);
  });

  it('explains each miss in vertex.started and the summaries; hits carry their key and build time', async () => {
    const b = new DefBuilder();
    const base = b.scratch();
    const first = b.def(b.exec(b.exec(base, 'one', 2), 'two', 3));
    await solve(first);
    const b2 = new DefBuilder();
    const second = b2.def(b2.exec(b2.exec(b2.scratch(), 'one changed', 2), 'two', 3));
    events = [];
    const res = await solve(second);
    const started = events.filter((e) => e.type === 'vertex.started');
    expect(started.map((e) => (e as { cacheMiss?: string[] }).cacheMiss)).toEqual([['command changed'], ['parent step changed (RUN one changed)']]);
    expect(res.vertices.map((v) => v.cacheMiss)).toEqual([['command changed'], ['parent step changed (RUN one changed)']]);
    expect(res.vertices.every((v) => /^sha256:[0-9a-f]{64}$/.test(v.cacheKey ?? ''))).toBe(true);
    const again = await solve(second);
    expect(again.vertices.every((v) => v.cached && v.cachedFrom && !v.cacheMiss)).toBe(true);
    // Back to the first variant: it hits, and the step memo follows it, so the next change is diffed against it.
    await solve(first);
    const b3 = new DefBuilder();
    const third = await solve(b3.def(b3.exec(b3.exec(b3.scratch(), 'one', 2), 'two', 3)), { noCache: true });
    expect(third.vertices.map((v) => v.cacheMiss)).toEqual([['--no-cache'], ['--no-cache']]);
  });

  it('noCacheStages reruns that stage and what depends on it', async () => {
    const b = new DefBuilder();
    const a = b.exec(b.scratch(), 'in a');
    b.metadata[a] = { description: 'RUN in a', stage: 'a' };
    const other = b.exec(b.scratch(), 'in b');
    const out = b.copyFrom(b.exec(b.scratch(), 'final base'), a, other);
    const def = b.def(out);
    await solve(def);
    ops.runs = [];
    const res = await solve(def, { noCacheStages: ['a'] });
    expect(ops.runs.sort()).toEqual(['COPY from 2 stages', 'RUN in a']);
    const byName = new Map(res.vertices.map((v) => [v.name, v]));
    expect(byName.get('RUN in a')?.cacheMiss).toEqual(['--no-cache-filter a']);
    expect(byName.get('COPY from 2 stages')?.cacheMiss).toEqual(['depends on a step that ignores the cache (RUN in a)']);
    expect(byName.get('RUN in b')?.cached).toBe(true);
  });
});

describe('scheduler: step locks', () => {
  afterEach(() => stopHelper());

  it("hands a missed step's result on before its record is written, and releases its lock only after", async () => {
    const b = new DefBuilder();
    const base = b.image('docker.io/library/busybox:latest');
    const e1 = b.exec(base, 'one');
    const e2 = b.exec(e1, 'two');
    const log: string[] = [];
    const names = new Map<string, string>();
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    // RUN one's record (the one written when the step is done, before its layer) waits for the gate.
    class GatedCache extends CacheStore {
      override async put(rec: CacheRecord): Promise<void> {
        names.set(rec.key, rec.name ?? '');
        const held = rec.name === 'RUN one' && !rec.layer;
        if (held) {
          log.push('put RUN one');
          await gate;
        }
        await super.put(rec);
        if (held) log.push('put RUN one: done');
      }
    }
    const real = fileStepLocks(join(dir, 'locks'));
    const locks: StepLocks = {
      async acquire(key, signal) {
        const lock = await real.acquire(key, signal);
        return {
          release: async () => {
            log.push(`release ${names.get(key) ?? key}`);
            await lock.release();
          },
        };
      },
    };
    ops.behaviour.set('RUN two', async () => void log.push('run RUN two'));
    const cache = new GatedCache({ dir: join(dir, 'cache'), snapshotExists: async (n) => ops.snapshots.has(n) });
    let settled = false;
    const solved = solve(b.def(e2), { cache, locks }).finally(() => (settled = true));
    // RUN two runs while RUN one's record is still being written (before: it waited for the write and the release)
    for (let i = 0; i < 500 && !log.includes('run RUN two'); i++) await new Promise((r) => setTimeout(r, 10));
    expect(log).toContain('run RUN two');
    expect(log).not.toContain('release RUN one');
    expect(settled).toBe(false); // the solve waits for the write and the release
    open();
    await solved;
    // another build waiting for RUN one's lock finds its record: written before the lock is released
    expect(log.indexOf('release RUN one')).toBeGreaterThan(log.indexOf('put RUN one: done'));
    expect(await readdir(join(dir, 'locks'))).toEqual([]); // every lock released (and its file removed) by then
  });
});

describe('scheduler: --cache-from sources still loading (SchedulerOptions.imported as a promise)', () => {
  it('keys are computed while the sources load; the first local miss waits for them and asks them', async () => {
    const b = new DefBuilder();
    const e1 = b.exec(b.image('docker.io/library/busybox:latest'), 'one');
    const asked: string[] = [];
    const lookup: ImportedCacheLookup = { get: (key) => (asked.push(key), undefined), restore: async () => Promise.reject(new Error('not here')) };
    // Loads only once the solver has asked for both vertices' key facts: a solver that waited for it first never would.
    const loading = (async () => {
      for (let i = 0; i < 2000 && ops.keyFactCalls < 2; i++) await new Promise((r) => setTimeout(r, 1));
      return ops.keyFactCalls >= 2 ? lookup : undefined;
    })();
    await solve(b.def(e1), { imported: loading });
    expect(ops.keyFactCalls).toBe(2);
    expect(asked).toHaveLength(1); // RUN one missed locally: the sources were asked (FROM is not a layered step)
    expect(ops.runs).toEqual(['FROM docker.io/library/busybox:latest', 'RUN one']);
  }, 10_000);

  it('a solve whose every step hits locally never waits for the sources', async () => {
    const b = new DefBuilder();
    const e1 = b.exec(b.image('docker.io/library/busybox:latest'), 'one');
    await solve(b.def(e1));
    ops.runs = [];
    const res = await solve(b.def(e1), { imported: new Promise<ImportedCacheLookup | undefined>(() => {}) });
    expect(ops.runs).toEqual([]);
    expect(res.vertices.every((v) => v.cached)).toBe(true);
  }, 10_000);
});
