/**
 * The cache format read from an untrusted source (src/cache/remote/format.ts): what is accepted, and every
 * way a forged or damaged manifest/config is refused (each a CacheFormatError the build turns into a warning).
 */
import { describe, expect, it } from 'vitest';
import { CACHE_CONFIG_MEDIA_TYPE, CacheFormatError, INLINE_CACHE_FIELD, MAX_MANIFEST_BYTES, encodeCache, encodeInlineCache, isImageConfigType, parseCacheConfig, parseCacheConfigFull, parseCacheManifest, parseInlineCache, parseManifestShape } from '../../../../src/cache/remote/format.js';
import type { Manifest } from '../../../../src/image/types.js';

const d = (c: string) => `sha256:${c.repeat(64)}`;
const layer = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: d('a'), size: 10 };
const record = { key: d('1'), parent: d('2'), layer: 0, diffID: d('b'), created: '2026-01-01T00:00:00.000Z', name: 'RUN x' };

function manifest(over: Record<string, unknown> = {}): Buffer {
  const enc = encodeCache([record], [layer]);
  const m = JSON.parse(enc.manifest({ mediaType: CACHE_CONFIG_MEDIA_TYPE, digest: d('c'), size: enc.config.length }).toString());
  return Buffer.from(JSON.stringify({ ...m, ...over }));
}

describe('cache format v1', () => {
  it('round-trips: manifest with artifact type, config records by key with their layer', () => {
    const m = parseCacheManifest(manifest());
    expect(m.artifactType).toBe('application/vnd.tsbuild.cache.v1');
    const recs = parseCacheConfig(encodeCache([record], [layer]).config, m, 'src');
    expect(recs.get(record.key)).toEqual({ key: record.key, parent: record.parent, layer: { descriptor: layer, diffID: record.diffID }, created: record.created, name: 'RUN x', source: 'src' });
  });

  it('refuses damaged or forged manifests', () => {
    const bad: [Buffer, RegExp][] = [
      [Buffer.from('{"schemaVersion":2,"conf'), /not JSON/],
      [Buffer.from('{"schemaVersion":1}'), /not an OCI image manifest/],
      [manifest({ config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: d('c'), size: 1 } }), /not a tsbuild cache/],
      [manifest({ config: { mediaType: 'application/vnd.tsbuild.cache.config.v2+json', digest: d('c'), size: 1 } }), /unknown cache format/],
      [manifest({ config: { mediaType: CACHE_CONFIG_MEDIA_TYPE, digest: d('c'), size: 1 << 30 } }), /too large/],
      [manifest({ layers: [{ ...layer, mediaType: 'application/vnd.oci.image.manifest.v1+json' }] }), /not a layer/],
      [manifest({ layers: [{ ...layer, digest: 'sha256:../../etc/passwd' }] }), /invalid layer descriptors/],
      [manifest({ layers: [{ ...layer, size: -1 }] }), /invalid layer descriptors/],
      [Buffer.alloc(MAX_MANIFEST_BYTES + 1, 32), /too large/],
    ];
    for (const [bytes, msg] of bad) expect(() => parseCacheManifest(bytes)).toThrow(msg);
    expect(() => parseCacheManifest(Buffer.from('[]'))).toThrow(CacheFormatError);
  });

  it('refuses configs with an unknown version or records naming a blob outside the manifest, bad keys, parents, diffIDs or times', () => {
    const m = parseCacheManifest(manifest()) as Manifest;
    const cfg = (c: unknown) => Buffer.from(JSON.stringify(c));
    const bad: [unknown, RegExp][] = [
      [{ version: 2, records: [] }, /unknown cache format version 2/],
      [{ version: 1 }, /no records/],
      [{ version: 1, records: [{ ...record, layer: 1 }] }, /outside its manifest/],
      [{ version: 1, records: [{ ...record, layer: -1 }] }, /outside its manifest/],
      [{ version: 1, records: [{ ...record, layer: '0' }] }, /outside its manifest/],
      [{ version: 1, records: [{ ...record, key: 'sha256:short' }] }, /invalid key/],
      [{ version: 1, records: [{ ...record, parent: '../x' }] }, /invalid parent/],
      [{ version: 1, records: [{ ...record, diffID: 'md5:x' }] }, /invalid diffID/],
      [{ version: 1, records: [{ ...record, created: 'yesterday' }] }, /invalid created/],
    ];
    for (const [c, msg] of bad) expect(() => parseCacheConfig(cfg(c), m, 's')).toThrow(msg);
    expect(() => parseCacheConfig(Buffer.from('nope'), m, 's')).toThrow(/not JSON/);
  });

  it('reads cache mounts by id and refuses bad ones', () => {
    const m = parseCacheManifest(manifest()) as Manifest;
    const mount = { id: 'pkgs', layer: 0, diffID: d('b'), mode: 0o755, uid: 0, gid: 0 };
    const ok = parseCacheConfigFull(encodeCache([record], [layer], [mount]).config, m, 's');
    expect(ok.mounts.get('pkgs')).toEqual({ id: 'pkgs', layer: { descriptor: layer, diffID: d('b') }, mode: 0o755, uid: 0, gid: 0, source: 's' });
    const bad: [unknown, RegExp][] = [
      [{ ...mount, id: '' }, /invalid id/],
      [{ ...mount, layer: 3 }, /outside its manifest/],
      [{ ...mount, mode: 0o17777 }, /invalid mode/],
      [{ ...mount, uid: -1 }, /invalid uid/],
      [{ ...mount, diffID: 'x' }, /invalid diffID/],
    ];
    for (const [mt, msg] of bad) expect(() => parseCacheConfigFull(Buffer.from(JSON.stringify({ version: 1, records: [], mounts: [mt] })), m, 's')).toThrow(msg);
  });

  it('makes a step name from a source safe to print', () => {
    const m = parseCacheManifest(manifest()) as Manifest;
    const recs = parseCacheConfig(Buffer.from(JSON.stringify({ version: 1, records: [{ ...record, name: 'RUN \u001b[2Jx\n' + 'y'.repeat(500) }] })), m, 's');
    const name = recs.get(record.key)!.name!;
    expect(name).not.toMatch(/[\u0000-\u001f]/);
    expect(name.length).toBeLessThanOrEqual(200);
  });

  it('inline (--cache-to type=inline): records in the image config, each naming one of the image\'s layers whose diffID matches rootfs', () => {
    const image = { schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: d('c'), size: 100 }, layers: [{ ...layer, digest: d('e') }, layer] };
    const m = parseManifestShape(Buffer.from(JSON.stringify(image)), 'image manifest');
    expect(isImageConfigType(m.config.mediaType)).toBe(true);
    const rec = { ...record, layer: 1 };
    const config = (inline: unknown, diffIDs = [d('f'), d('b')]) => Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIDs }, ...(inline === undefined ? {} : { [INLINE_CACHE_FIELD]: inline }) }));
    expect(parseInlineCache(config(encodeInlineCache([rec])), m, 'img').get(rec.key)).toEqual({ key: rec.key, parent: rec.parent, layer: { descriptor: layer, diffID: rec.diffID }, created: rec.created, name: 'RUN x', source: 'img' });
    const bad: [Buffer, RegExp][] = [
      [config(undefined), /image without an inline tsbuild cache/],
      [config(encodeInlineCache([{ ...rec, layer: 2 }])), /outside its manifest/],
      [config(encodeInlineCache([{ ...rec, layer: 0 }])), /diffID is not the image's layer 0/],
      [config(encodeInlineCache([rec]), [d('b')]), /rootfs does not match/],
      [config({ version: 2, records: [] }), /unknown cache format version 2/],
      [config('bm90IGpzb24='), /not an object/],
      [config({ version: 1, records: [], mounts: [{ id: 'x', layer: 0, diffID: d('f'), mode: 0, uid: 0, gid: 0 }] }), /cannot carry cache mounts/],
      [Buffer.from('{'), /not JSON/],
    ];
    for (const [bytes, msg] of bad) expect(() => parseInlineCache(bytes, m, 'img')).toThrow(msg);
  });
});
