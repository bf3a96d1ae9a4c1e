/**
 * A build killed (SIGKILL) while its base layer is unpacked during the download (the pull runs while the
 * Dockerfile is converted, before the build registers itself in beginBuild): the next build cleans the
 * half-unpacked active snapshot and the ingest file, unpacks the layer again and succeeds; doctor is clean.
 * The proxy holds the layer's body after half of it, so the kill always lands mid-layer. Runs the compiled
 * CLI (npm run build first).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LocalContentStore } from '../../src/content/store.js';
import { RegistryClient } from '../../src/registry/index.js';
import { Sandbox } from '../e2e/harness.js';
import { CountingProxy, TestRegistry } from './harness.js';
import { writeImage, writeLayer } from './images.js';

let reg: TestRegistry;
let proxy: CountingProxy;
let sb: Sandbox;
let layerDigest: string;

beforeAll(async () => {
  reg = await TestRegistry.start('open');
  proxy = await new CountingProxy(reg.port).start();
  sb = new Sandbox();
  const src = new LocalContentStore(join(sb.dir, 'fixture-content'));
  // busybox and 4 MiB of random bytes in the first (and only) layer: big enough to be held mid-way
  const layer = await writeLayer(src, [
    { name: 'bin/', type: 'directory' },
    { name: 'bin/busybox', data: readFileSync('/bin/busybox'), mode: 0o755 },
    { name: 'bin/sh', type: 'symlink', linkname: 'busybox' },
    { name: 'data.bin', data: randomBytes(4 << 20) },
  ]);
  const img = await writeImage(src, [layer]);
  layerDigest = layer.desc.digest;
  await new RegistryClient({ credentials: async () => undefined }).push([`${reg.domain}/killme:v1`], img.manifest, { content: src });
}, 60_000);

afterAll(async () => {
  await proxy?.stop();
  await reg?.stop();
  sb?.cleanup();
});

function snapshotMeta(): { key: string; kind: string }[] {
  const dir = join(sb.root, 'snapshots', 'meta');
  return readdirSync(dir)
    .filter((n) => n.endsWith('.json'))
    .map((n) => JSON.parse(readFileSync(join(dir, n), 'utf8')) as { key: string; kind: string });
}

describe('SIGKILL while a base layer unpacks during its download', () => {
  it('the next build cleans the half-unpacked snapshot, unpacks again and succeeds', async () => {
    const ctx = join(sb.dir, 'ctx');
    mkdirSync(ctx, { recursive: true });
    writeFileSync(join(ctx, 'Dockerfile'), `FROM ${proxy.domain}/killme:v1\nRUN test -s /data.bin && echo ok > /ok\n`);
    const held = proxy.holdOnce(new RegExp(`/blobs/${layerDigest}$`));
    const child = sb.spawn(['build', '--progress', 'plain', '--insecure-registry', proxy.domain, '-t', 'k', ctx]);
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const closed = new Promise((resolve) => child.on('close', resolve));
    await held;
    // the held half has reached the unpack: the active snapshot is there
    for (let i = 0; i < 400 && !stderr.includes('extracting'); i++) await new Promise((r) => setTimeout(r, 25));
    expect(stderr).toContain('extracting');
    expect(snapshotMeta().filter((m) => m.kind === 'active' && m.key.startsWith('unpack:'))).toHaveLength(1);
    child.kill('SIGKILL');
    await closed;
    expect(readdirSync(join(sb.root, 'state', 'builds'))).toContain(String(child.pid));

    // the next build (straight to the registry): cleans up, pulls and unpacks again, runs the step
    writeFileSync(join(ctx, 'Dockerfile'), `FROM ${reg.domain}/killme:v1\nRUN test -s /data.bin && echo ok > /ok\n`);
    await sb.build(['--insecure-registry', reg.domain, '-t', 'k', ctx]);
    expect(snapshotMeta().filter((m) => m.kind !== 'committed')).toEqual([]);
    expect(sb.storeLeftovers()).toEqual([]);
    const doctor = await sb.tsbuild(['doctor']);
    expect(doctor.code, doctor.stdout + doctor.stderr).toBe(0);
  });
});
