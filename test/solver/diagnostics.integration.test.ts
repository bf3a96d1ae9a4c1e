/**
 * A diagnostic never fails a build (src/diagnostics.ts): solve() with op modules whose explainer throws
 * (injected through SolveOptions.opModules, the real module table with one method replaced) still builds,
 * warns once, and gives the same image as a store where nothing had to be explained.
 */
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalContentStore } from '../../src/content/store.js';
import { RuncExecutor } from '../../src/executor/runc.js';
import { LocalImageStore } from '../../src/imagestore/store.js';
import { opDigest } from '../../src/llb/digest.js';
import type { Definition, Digest, Op } from '../../src/llb/types.js';
import type { ProgressEvent } from '../../src/progress/types.js';
import { OverlaySnapshotter } from '../../src/snapshot/overlay.js';
import { OP_MODULES, solve, type OpModules, type SolveOptions } from '../../solver/index.js';
import { makeBusyboxImage } from './busybox-image.js';

const REF = 'docker.io/library/busybox:diagnostics-test';

let dir: string;
let ctxDir: string;

async function store(name: string, events: ProgressEvent[], opModules?: OpModules): Promise<SolveOptions> {
  const root = join(dir, name);
  const content = new LocalContentStore(join(root, 'content'));
  const images = new LocalImageStore(join(root, 'images'));
  await makeBusyboxImage(content, images, REF);
  return {
    content,
    images,
    snapshotter: new OverlaySnapshotter(join(root, 'snapshots')),
    executor: new RuncExecutor({ stateDir: join(root, 'exec') }),
    cacheDir: join(root, 'cache'),
    stateDir: join(root, 'state'),
    locals: { context: ctxDir },
    progress: { emit: (e) => events.push(e) },
    compressionLevel: 1,
    ...(opModules ? { opModules } : {}),
  };
}

/** FROM busybox; COPY f.txt /f.txt (no RUN: every layer is reproducible, so two stores can be compared). */
function definition(): Definition {
  const ops: Record<Digest, Op> = {};
  const metadata: Definition['metadata'] = {};
  const add = (op: Op, description: string, line?: number): Digest => {
    const d = opDigest(op);
    ops[d] = op;
    metadata[d] = { description, ...(line ? { location: { file: 'Dockerfile', line } } : {}) };
    return d;
  };
  const base = add({ type: 'source', inputs: [], source: { kind: 'image', ref: REF } }, `[1/2] FROM ${REF}`, 1);
  const local = add({ type: 'source', inputs: [], source: { kind: 'local', name: 'context', excludePatterns: [] } }, '[internal] load build context');
  const copy = add(
    { type: 'file', inputs: [base, local], actions: [{ action: 'copy', sourceInput: 1, src: ['f.txt'], dest: '/f.txt', allowWildcard: true, followSymlinks: false }] },
    '[2/2] COPY f.txt /f.txt',
    2,
  );
  return { version: 1, ops, metadata, output: copy, image: { architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [] }, history: [] } };
}

async function writeContext(text: string): Promise<void> {
  await writeFile(join(ctxDir, 'f.txt'), text);
  await utimes(join(ctxDir, 'f.txt'), 1_000_000, 1_000_000);
}

describe('diagnostics cannot fail a build', () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tsbuild-diag-'));
    ctxDir = join(dir, 'ctx');
    await mkdir(ctxDir);
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('a throwing explainer: the build succeeds with the same image, one warning, no miss reason', async () => {
    const throwing: OpModules = {
      ...OP_MODULES,
      file: {
        ...OP_MODULES.file,
        explain() {
          throw new Error('explainer exploded');
        },
      },
    };
    const events: ProgressEvent[] = [];
    const a = await store('a', events, throwing);
    await writeContext('one\n');
    await solve(definition(), a); // first build: nothing to explain yet
    await writeContext('two\n');
    events.length = 0;
    const changed = await solve(definition(), a); // a miss with an earlier memo: the explainer throws
    const warnings = events.filter((e) => e.type === 'warning');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ message: expect.stringContaining('explainer exploded') });
    expect(warnings[0]).toMatchObject({ message: expect.stringContaining('explaining cache misses') });
    const started = events.find((e) => e.type === 'vertex.started' && e.name.includes('COPY'));
    expect(started).toBeDefined();
    expect(started).not.toHaveProperty('cacheMiss');

    const fresh = await solve(definition(), await store('b', []));
    expect(changed.image.rootfs.diff_ids).toEqual(fresh.image.rootfs.diff_ids);
    expect(changed.layers.map((l) => l.descriptor.digest)).toEqual(fresh.layers.map((l) => l.descriptor.digest));
  });

  it('the same store with the real explainer names the change (so the test above did reach the explainer)', async () => {
    const events: ProgressEvent[] = [];
    const c = await store('c', events);
    await writeContext('one\n');
    await solve(definition(), c);
    await writeContext('three\n');
    await solve(definition(), c);
    const started = events.filter((e) => e.type === 'vertex.started' && e.name.includes('COPY')).at(-1);
    expect(started).toMatchObject({ cacheMiss: ['file changed: f.txt (content)'] });
    expect(events.filter((e) => e.type === 'warning')).toEqual([]);
  });
});
