/**
 * Test images written straight into a ContentStore (no runc needed): busybox-based (Debian's
 * busybox-static as /bin/busybox, /bin/sh a symlink to it), several layers, and two-platform indexes.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, realpathSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import type { ContentStore } from '../../src/content/types.js';
import { MediaType, type Descriptor, type ImageConfig, type Manifest, type Index, type Platform } from '../../src/image/types.js';

export interface Entry {
  name: string;
  data?: Buffer;
  type?: 'file' | 'symlink' | 'directory';
  linkname?: string;
  mode?: number;
}

function sha(b: Buffer): string {
  return 'sha256:' + createHash('sha256').update(b).digest('hex');
}

export async function tarOf(entries: Entry[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const done = new Promise<void>((resolve) => p.on('end', () => resolve()));
  for (const e of entries) {
    const type = e.type ?? 'file';
    const header = { name: e.name, type, mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644), mtime: new Date(0), uid: 0, gid: 0, ...(e.linkname ? { linkname: e.linkname } : {}) };
    await new Promise<void>((resolve, reject) => p.entry(type === 'file' ? header : { ...header, size: 0 }, type === 'file' ? (e.data ?? Buffer.alloc(0)) : Buffer.alloc(0), (err) => (err ? reject(err) : resolve())));
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

export interface LayerOut {
  desc: Descriptor;
  diffID: string;
}

export async function writeLayer(content: ContentStore, entries: Entry[], level = 1, compression: 'gzip' | 'zstd' | 'none' = 'gzip'): Promise<LayerOut> {
  const tar = await tarOf(entries);
  const blob = compression === 'gzip' ? gzipSync(tar, { level }) : compression === 'zstd' ? execFileSync('zstd', ['-q', '-c', '-3'], { input: tar, maxBuffer: 1 << 30 }) : tar;
  const info = await content.put(blob);
  const mediaType = compression === 'gzip' ? MediaType.OciLayerGzip : compression === 'zstd' ? MediaType.OciLayerZstd : MediaType.OciLayer;
  return { desc: { mediaType, digest: info.digest, size: info.size }, diffID: sha(tar) };
}

export async function writeImage(content: ContentStore, layers: LayerOut[], opts: { platform?: Platform; env?: string[]; label?: string } = {}): Promise<{ manifest: Descriptor; config: Descriptor }> {
  const pf = opts.platform ?? { os: 'linux', architecture: 'amd64' };
  const cfg: ImageConfig = {
    architecture: pf.architecture,
    os: pf.os,
    ...(pf.variant ? { variant: pf.variant } : {}),
    created: '2024-01-01T00:00:00Z',
    config: { Env: opts.env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'], ...(opts.label ? { Labels: { test: opts.label } } : {}) },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffID) },
    history: layers.map(() => ({ created: '2024-01-01T00:00:00Z', created_by: 'test' })),
  };
  const cfgInfo = await content.put(Buffer.from(JSON.stringify(cfg)));
  const config = { mediaType: MediaType.OciConfig, digest: cfgInfo.digest, size: cfgInfo.size };
  const m: Manifest = { schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers: layers.map((l) => l.desc) };
  const mInfo = await content.put(Buffer.from(JSON.stringify(m)));
  return { manifest: { mediaType: MediaType.OciManifest, digest: mInfo.digest, size: mInfo.size }, config };
}

/** busybox as one layer, then `extra` small layers (each with a unique file so digests differ per call when `unique`). */
export async function busyboxImage(content: ContentStore, opts: { extra?: number; unique?: string; platform?: Platform; env?: string[]; bigLayerBytes?: number } = {}): Promise<{ manifest: Descriptor; layers: LayerOut[] }> {
  const bb = readFileSync(realpathSync('/bin/busybox'));
  const layers: LayerOut[] = [
    await writeLayer(content, [
      { name: 'bin/', type: 'directory' },
      { name: 'bin/busybox', data: bb, mode: 0o755 },
      { name: 'bin/sh', type: 'symlink', linkname: 'busybox' },
      { name: 'bin/cat', type: 'symlink', linkname: 'busybox' },
      { name: 'bin/echo', type: 'symlink', linkname: 'busybox' },
      { name: 'etc/', type: 'directory' },
      { name: 'etc/passwd', data: Buffer.from('root:x:0:0:root:/root:/bin/sh\n') },
      { name: 'etc/group', data: Buffer.from('root:x:0:\n') },
      { name: 'tmp/', type: 'directory', mode: 0o1777 },
    ]),
  ];
  for (let i = 0; i < (opts.extra ?? 1); i++) {
    layers.push(await writeLayer(content, [{ name: 'data/', type: 'directory' }, { name: `data/layer${i}.txt`, data: Buffer.from(`layer ${i} ${opts.unique ?? ''}\n`) }]));
  }
  if (opts.bigLayerBytes) {
    layers.push(await writeLayer(content, [{ name: 'big.bin', data: randomBytes(opts.bigLayerBytes) }], 0));
  }
  const img = await writeImage(content, layers, { ...(opts.platform ? { platform: opts.platform } : {}), ...(opts.env ? { env: opts.env } : {}) });
  return { manifest: img.manifest, layers };
}

export async function writeIndex(content: ContentStore, entries: { manifest: Descriptor; platform: Platform }[]): Promise<Descriptor> {
  const idx: Index = { schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: entries.map((e) => ({ ...e.manifest, platform: e.platform })) };
  const info = await content.put(Buffer.from(JSON.stringify(idx)));
  return { mediaType: MediaType.OciIndex, digest: info.digest, size: info.size };
}
