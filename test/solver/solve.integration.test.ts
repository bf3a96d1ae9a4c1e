import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import * as tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalContentStore } from '../../src/content/store.js';
import { ExecError, VertexError } from '../../src/errors.js';
import { RuncExecutor } from '../../src/executor/runc.js';
import type { Executor } from '../../src/executor/types.js';
import type { Layer } from '../../src/image/types.js';
import { LocalImageStore } from '../../src/imagestore/store.js';
import { opDigest } from '../../src/llb/digest.js';
import type { Definition, Digest, Op } from '../../src/llb/types.js';
import type { ProgressEvent } from '../../src/progress/types.js';
import { withMounts } from '../../src/snapshot/mount.js';
import { OverlaySnapshotter } from '../../src/snapshot/overlay.js';
import { solve, type SolveOptions } from '../../solver/index.js';
import { DefaultOpResolver } from '../../solver/resolver.js';
import type { OpResolver, RunContext } from '../../solver/types.js';
import { makeBusyboxImage } from './busybox-image.js';

const REF = 'docker.io/library/busybox:solver-test';

let root: string;
let ctxDir: string;
let content: LocalContentStore;
let images: LocalImageStore;
let snapshotter: OverlaySnapshotter;
let executor: Executor;
let execCalls: string[];
let runs: string[];
let events: ProgressEvent[];
let baseDiffID: string;

function options(): SolveOptions {
  const real = new DefaultOpResolver({ content, snapshotter, executor, images, locals: { context: ctxDir }, stateDir: join(root, 'state') });
  // Count runs by wrapping the real resolver (the real ops still do the work).
  const ops: OpResolver = {
    keyFacts: (c) => real.keyFacts(c),
    run: (c: RunContext) => {
      runs.push(c.vertex.metadata.description);
      return real.run(c);
    },
  };
  return {
    content, snapshotter, executor, images, ops,
    cacheDir: join(root, 'cache'),
    stateDir: join(root, 'state'),
    locals: { context: ctxDir },
    progress: { emit: (e) => events.push(e) },
    compressionLevel: 1,
  };
}

function definition(cmd: string, extraOps: (b: Record<Digest, Op>, meta: Definition['metadata']) => Digest = (_b, _m) => ''): Definition {
  const ops: Record<Digest, Op> = {};
  const metadata: Definition['metadata'] = {};
  const add = (op: Op, description: string, line?: number): Digest => {
    const d = opDigest(op);
    ops[d] = op;
    metadata[d] = { description, ...(line ? { location: { file: 'Dockerfile', line } } : {}) };
    return d;
  };
  const base = add({ type: 'source', inputs: [], source: { kind: 'image', ref: REF } }, `[1/3] FROM ${REF}`, 1);
  const run = add(
    { type: 'exec', inputs: [base], args: ['/bin/sh', '-c', cmd], env: ['PATH=/bin'], cwd: '/', user: '', network: 'none' },
    `[2/3] RUN ${cmd}`,
    2,
  );
  const local = add({ type: 'source', inputs: [], source: { kind: 'local', name: 'context', excludePatterns: ['*.log'] } }, '[internal] load build context');
  const copy = add(
    {
      type: 'file',
      inputs: [run, local],
      actions: [{ action: 'copy', sourceInput: 1, src: ['.'], dest: '/app/', allowWildcard: true, followSymlinks: false, chown: { user: 'app' } }],
    },
    '[3/3] COPY . /app/',
    3,
  );
  const extra = extraOps(ops, metadata);
  return {
    version: 1,
    ops,
    metadata,
    output: extra || copy,
    image: { architecture: 'amd64', os: 'linux', config: { Cmd: ['sh'] }, rootfs: { type: 'layers', diff_ids: [] }, history: [] },
  };
}

async function layerEntries(layer: Layer): Promise<Map<string, tar.Header>> {
  const out = new Map<string, tar.Header>();
  const extract = tar.extract();
  const done = new Promise<void>((res, rej) => {
    extract.on('entry', (h, stream, next) => {
      out.set(h.name.replace(/\/$/, ''), h);
      stream.on('end', next);
      stream.resume();
    });
    extract.on('finish', () => res());
    extract.on('error', rej);
  });
  extract.end(gunzipSync(await content.read(layer.descriptor.digest)));
  await done;
  return out;
}

async function blobCount(): Promise<number> {
  let n = 0;
  for await (const _ of content.list()) n++;
  return n;
}

async function snapshotNames(): Promise<string[]> {
  const names: string[] = [];
  await snapshotter.walk((i) => {
    names.push(`${i.kind} ${i.key}`);
  });
  return names.sort();
}

describe('solve (real stores, overlayfs, runc; needs root, as the whole suite does)', () => {
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'tsbuild-solve-'));
    ctxDir = join(root, 'ctx');
    await mkdir(join(ctxDir, 'sub'), { recursive: true });
    await writeFile(join(ctxDir, 'a.txt'), 'hello\n');
    await writeFile(join(ctxDir, 'sub', 'b.txt'), 'bee\n');
    await writeFile(join(ctxDir, 'debug.log'), 'excluded\n');
    content = new LocalContentStore(join(root, 'content'));
    images = new LocalImageStore(join(root, 'images'));
    snapshotter = new OverlaySnapshotter(join(root, 'snapshots'));
    const real = new RuncExecutor({ stateDir: join(root, 'exec') });
    executor = {
      run: (mounts, proc, o) => {
        execCalls.push(proc.args.join(' '));
        return real.run(mounts, proc, o);
      },
    };
    baseDiffID = (await makeBusyboxImage(content, images, REF)).diffID;
  });
  afterAll(async () => {
    if (!root) return;
    await rm(root, { recursive: true, force: true });
  });

  const reset = () => {
    execCalls = [];
    runs = [];
    events = [];
  };

  let first: Awaited<ReturnType<typeof solve>>;

  it('builds image → RUN → COPY from the context, with one layer per step', async () => {
    reset();
    first = await solve(definition('echo hi > /x && rm /bin/ls'), options());
    expect(execCalls).toEqual(['/bin/sh -c echo hi > /x && rm /bin/ls']);
    expect(runs).toEqual([`[1/3] FROM ${REF}`, '[2/3] RUN echo hi > /x && rm /bin/ls', '[3/3] COPY . /app/']);
    expect(first.layers).toHaveLength(3);
    expect(first.layers[0]!.diffID).toBe(baseDiffID);
    expect(first.image.rootfs.diff_ids).toEqual(first.layers.map((l) => l.diffID));
    expect(first.image.config).toEqual({ Cmd: ['sh'] });
    expect(first.snapshot).toMatch(/^op:/);

    const runLayer = await layerEntries(first.layers[1]!);
    // The executor's mount-point stubs (/etc/hosts, /etc/resolv.conf) are removed again; /etc itself may
    // stay as a changed directory (its mtime changed), but nothing inside it.
    expect([...runLayer.keys()].filter((n) => n !== 'etc').sort()).toEqual(['bin', 'bin/.wh.ls', 'x']);
    const copyLayer = await layerEntries(first.layers[2]!);
    expect([...copyLayer.keys()].sort()).toEqual(['app', 'app/a.txt', 'app/sub', 'app/sub/b.txt']);
    expect(copyLayer.get('app/a.txt')).toMatchObject({ uid: 1000, gid: 1000 });

    // The committed rootfs has all three steps.
    const view = 'test-view';
    const mnt = join(root, 'mnt');
    await mkdir(mnt);
    await withMounts(await snapshotter.view(view, first.snapshot!), mnt, async (dir) => {
      expect(readFileSync(join(dir, 'x'), 'utf8')).toBe('hi\n');
      expect(existsSync(join(dir, 'bin/ls'))).toBe(false);
      expect(existsSync(join(dir, 'bin/cat'))).toBe(true);
      expect(readFileSync(join(dir, 'app/sub/b.txt'), 'utf8')).toBe('bee\n');
      expect(existsSync(join(dir, 'app/debug.log'))).toBe(false);
    });
    await snapshotter.remove(view);
    expect(events.filter((e) => e.type === 'vertex.done')).toHaveLength(3);
  });

  it('an unchanged rebuild runs no process, mounts nothing, copies nothing and creates no layer', async () => {
    reset();
    const blobsBefore = await blobCount();
    const snapsBefore = await snapshotNames();
    const again = await solve(definition('echo hi > /x && rm /bin/ls'), options());
    expect(execCalls).toEqual([]);
    expect(runs).toEqual([]);
    expect(again.layers).toEqual(first.layers);
    expect(again.snapshot).toBe(first.snapshot);
    expect(again.vertices.every((v) => v.cached)).toBe(true);
    expect(await blobCount()).toBe(blobsBefore);
    expect(await snapshotNames()).toEqual(snapsBefore);
    expect(events.map((e) => e.type)).toEqual(['vertex.cached', 'vertex.cached', 'vertex.cached']);
  });

  it('a changed context file reruns only the COPY', async () => {
    reset();
    await writeFile(join(ctxDir, 'a.txt'), 'changed\n');
    const res = await solve(definition('echo hi > /x && rm /bin/ls'), options());
    expect(execCalls).toEqual([]);
    expect(runs).toEqual(['[3/3] COPY . /app/']);
    expect(res.layers.slice(0, 2)).toEqual(first.layers.slice(0, 2));
    expect(res.layers[2]!.diffID).not.toBe(first.layers[2]!.diffID);
    // Changing an excluded file changes nothing.
    reset();
    await writeFile(join(ctxDir, 'debug.log'), 'still excluded, but different\n');
    const same = await solve(definition('echo hi > /x && rm /bin/ls'), options());
    expect(runs).toEqual([]);
    expect(same.layers).toEqual(res.layers);
  });

  it('a failing RUN reports the step, command, exit code and output tail', async () => {
    reset();
    const err = await solve(definition('for i in $(seq 1 30); do echo line $i; done; exit 3'), options()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VertexError);
    const ve = err as VertexError;
    expect(ve.location).toEqual({ file: 'Dockerfile', line: 2 });
    expect(ve.message).toContain('[2/3] RUN for i in');
    expect(ve.message).toContain('exit code: 3');
    const cause = ve.cause as ExecError;
    expect(cause).toBeInstanceOf(ExecError);
    expect(cause.exitCode_).toBe(3);
    expect(cause.outputTail.split('\n')).toEqual(Array.from({ length: 20 }, (_, i) => `line ${i + 11}`));
    expect(runs).not.toContain('[3/3] COPY . /app/');
    expect(events.some((e) => e.type === 'vertex.log' && e.data.includes('line 30'))).toBe(true);
    // No active snapshot is left behind.
    expect((await snapshotNames()).filter((n) => !n.startsWith('committed'))).toEqual([]);
  });

  it('a COPY of an excluded file fails before anything runs, naming the step and the .dockerignore pattern', async () => {
    reset();
    const def = definition('echo hi > /x && rm /bin/ls');
    const copy = Object.keys(def.ops).find((d) => def.ops[d]!.type === 'file')!;
    const op = def.ops[copy] as Extract<Op, { type: 'file' }>;
    op.actions = [{ ...(op.actions[0] as Extract<typeof op.actions[0], { action: 'copy' }>), src: ['debug.log'] }];
    const err = await solve(def, options()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VertexError);
    expect((err as VertexError).message).toMatch(/^\[3\/3\] COPY \. \/app\/: .*debug\.log.*excluded by \.dockerignore pattern "\*\.log"/);
    expect((err as VertexError).location).toEqual({ file: 'Dockerfile', line: 3 });
    expect(runs).toEqual([]);
    expect(execCalls).toEqual([]);
  });

  it('copies between stages with a mounted read-only view of the source stage', async () => {
    reset();
    const def = definition('echo hi > /x && rm /bin/ls', (ops, meta) => {
      const base = Object.keys(ops).find((d) => ops[d]!.type === 'source' && (ops[d] as { source: { kind: string } }).source.kind === 'image')!;
      const stage = Object.keys(ops).find((d) => ops[d]!.type === 'file')!;
      const op: Op = {
        type: 'file',
        inputs: [base, stage],
        actions: [
          { action: 'mkdir', path: '/out/deep', mode: 0o750, makeParents: true },
          { action: 'copy', sourceInput: 1, src: ['/app/sub', '/x'], dest: '/out/deep/', allowWildcard: true, followSymlinks: false },
        ],
      };
      const d = opDigest(op);
      ops[d] = op;
      meta[d] = { description: '[final 2/2] COPY --from=0 /app/sub /x /out/deep/' };
      return d;
    });
    const res = await solve(def, options());
    expect(execCalls).toEqual([]);
    expect(runs).toEqual(['[final 2/2] COPY --from=0 /app/sub /x /out/deep/']);
    expect(res.layers.map((l) => l.diffID)).toEqual([baseDiffID, res.layers[1]!.diffID]);
    const entries = await layerEntries(res.layers[1]!);
    expect([...entries.keys()].sort()).toEqual(['out', 'out/deep', 'out/deep/b.txt', 'out/deep/x']);
    expect(entries.get('out/deep')!.mode! & 0o7777).toBe(0o750);
    // Ownership from the source stage is kept (COPY --chown=app there).
    expect(entries.get('out/deep/b.txt')).toMatchObject({ uid: 1000, gid: 1000 });
  });
});

// Keep the helper honest: this is a fixed, static busybox.
it('has a static busybox to build images from', () => {
  expect(execFileSync('/bin/busybox', ['echo', 'ok'], { encoding: 'utf8' })).toBe('ok\n');
});
