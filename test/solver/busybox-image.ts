/** Test helper: a one-layer busybox image (static /bin/busybox + applet symlinks + /etc/passwd) in a content and image store. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar-stream';
import type { ContentStore } from '../../src/content/types.js';
import { MediaType, type Descriptor, type ImageConfig, type Manifest } from '../../src/image/types.js';
import type { ImageStore } from '../../src/imagestore/types.js';
import { sha256 } from '../../src/llb/digest.js';

export async function layerTar(entries: { name: string; type: 'directory' | 'file' | 'symlink'; data?: Buffer | string; mode?: number; linkname?: string }[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const done = new Promise<void>((res, rej) => {
    pack.on('end', () => res());
    pack.on('error', rej);
  });
  const mtime = new Date(0);
  for (const e of entries) {
    if (e.type === 'file') pack.entry({ name: e.name, type: 'file', mode: e.mode ?? 0o644, uid: 0, gid: 0, mtime }, e.data ?? '');
    else if (e.type === 'directory') pack.entry({ name: e.name, type: 'directory', mode: e.mode ?? 0o755, uid: 0, gid: 0, mtime });
    else pack.entry({ name: e.name, type: 'symlink', linkname: e.linkname!, mode: 0o777, uid: 0, gid: 0, mtime });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export async function makeBusyboxImage(content: ContentStore, images: ImageStore, ref: string): Promise<{ manifest: Descriptor; diffID: string; layer: Descriptor }> {
  const applets = execFileSync('/bin/busybox', ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => a && a !== 'busybox');
  const raw = await layerTar([
    { name: 'bin', type: 'directory' },
    { name: 'bin/busybox', type: 'file', mode: 0o755, data: readFileSync('/bin/busybox') },
    ...applets.map((a) => ({ name: `bin/${a}`, type: 'symlink' as const, linkname: 'busybox' })),
    { name: 'etc', type: 'directory' },
    { name: 'etc/passwd', type: 'file', data: 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n' },
    { name: 'etc/group', type: 'file', data: 'root:x:0:\napp:x:1000:\n' },
    { name: 'tmp', type: 'directory', mode: 0o1777 },
  ]);
  const diffID = sha256(raw);
  const gz = gzipSync(raw, { level: 1 });
  const layerInfo = await content.put(gz);
  const layer: Descriptor = { mediaType: MediaType.OciLayerGzip, digest: layerInfo.digest, size: layerInfo.size };
  const config: ImageConfig = {
    architecture: 'amd64',
    os: 'linux',
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'] },
    rootfs: { type: 'layers', diff_ids: [diffID] },
    history: [{ created_by: 'busybox test layer' }],
  };
  const configBytes = Buffer.from(JSON.stringify(config));
  const configInfo = await content.put(configBytes);
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: configInfo.digest, size: configInfo.size },
    layers: [layer],
  };
  const mBytes = Buffer.from(JSON.stringify(manifest));
  const mInfo = await content.put(mBytes);
  const desc: Descriptor = { mediaType: MediaType.OciManifest, digest: mInfo.digest, size: mInfo.size };
  await images.put(ref, desc);
  return { manifest: desc, diffID, layer };
}
