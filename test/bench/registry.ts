/**
 * Registry push and pull speed (part of `npm run bench`; also `node dist/test/bench/registry.js`): a ~200 MB
 * image of 5 layers (busybox + 4 × 50 MB), pushed to and pulled from a local docker-registry (HTTP on
 * 127.0.0.1) by tsbuild's RegistryClient (in-process) and by `skopeo copy` (its CLI, OCI layout ↔ registry),
 * each into a fresh repository / empty destination. Medians of 3 runs; prints the ratio tsbuild/skopeo.
 */
import { median, time } from './stats.js';
import { execFileSync } from 'node:child_process';
import { linkSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalContentStore } from '../../src/content/store.js';
import { RegistryClient } from '../../src/registry/index.js';
import type { Descriptor, Manifest } from '../../src/image/types.js';
import { TestRegistry } from '../registry/harness.js';
import { busyboxImage, writeImage, writeLayer } from '../registry/images.js';

const RUNS = 3;
const LAYER_MB = 50;



/** An OCI layout holding the image (blobs hard-linked from the store), for skopeo's side. */
function ociLayout(content: LocalContentStore, dir: string, manifest: Descriptor, m: Manifest): void {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  for (const d of [manifest, m.config, ...m.layers]) linkSync(content.path(d.digest), join(dir, 'blobs', 'sha256', d.digest.slice(7)));
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'bench' } }] }));
}

const work = mkdtempSync(join(tmpdir(), 'tsbuild-bench-registry-'));
let reg: TestRegistry | undefined;
try {
  reg = await TestRegistry.start('open');
  const content = new LocalContentStore(join(work, 'content'));
  const base = await busyboxImage(content, { extra: 0, unique: 'bench' });
  const layers = [...base.layers];
  for (let i = 0; i < 4; i++) layers.push(await writeLayer(content, [{ name: `data${i}.bin`, data: randomBytes(LAYER_MB << 20) }], 1));
  const img = await writeImage(content, layers);
  const m = JSON.parse((await content.read(img.manifest.digest)).toString()) as Manifest;
  const total = m.layers.reduce((n, l) => n + l.size, 0);
  const layout = join(work, 'layout');
  ociLayout(content, layout, img.manifest, m);
  const client = () => new RegistryClient({ credentials: async () => undefined });

  const push = { tsbuild: [] as number[], skopeo: [] as number[] };
  const pull = { tsbuild: [] as number[], skopeo: [] as number[] };
  // Each push goes to an emptied registry, so neither side can skip or mount a blob it pushed before.
  const emptied = async () => {
    await reg!.kill();
    rmSync(reg!.storage, { recursive: true, force: true });
    await reg!.launch();
  };
  for (let i = 0; i < RUNS; i++) {
    await emptied();
    push.skopeo.push(await time(() => execFileSync('skopeo', ['copy', '-q', '--dest-tls-verify=false', `oci:${layout}:bench`, `docker://${reg!.domain}/skopeo-${i}:v1`], { stdio: 'pipe' })));
    await emptied();
    push.tsbuild.push(await time(() => client().push([`${reg!.domain}/tsb-${i}:v1`], img.manifest, { content })));
  }
  for (let i = 0; i < RUNS; i++) {
    const dst = new LocalContentStore(join(work, `pull-${i}`));
    pull.tsbuild.push(await time(() => client().pull(`${reg!.domain}/tsb-${RUNS - 1}:v1`, { content: dst, platform: { os: 'linux', architecture: 'amd64' } })));
    const out = join(work, `skopeo-pull-${i}`);
    pull.skopeo.push(await time(() => execFileSync('skopeo', ['copy', '-q', '--src-tls-verify=false', `docker://${reg!.domain}/tsb-${RUNS - 1}:v1`, `oci:${out}:x`], { stdio: 'pipe' })));
    rmSync(join(work, `pull-${i}`), { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
  }
  console.log(`\nregistry push/pull: ${m.layers.length} layers, ${(total / 1e6).toFixed(0)} MB compressed, local docker-registry over HTTP, medians of ${RUNS}`);
  console.log('case | tsbuild s | skopeo s | tsbuild/skopeo');
  for (const [name, r] of [['push (fresh repository)', push], ['pull (empty store)', pull]] as const) {
    const t = median(r.tsbuild);
    const s = median(r.skopeo);
    console.log(`${name} | ${(t / 1000).toFixed(3)} | ${(s / 1000).toFixed(3)} | ${(t / s).toFixed(2)}x`);
  }
} finally {
  await reg?.stop();
  rmSync(work, { recursive: true, force: true });
}
