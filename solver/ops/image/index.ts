/**
 * The image source (FROM, COPY --from an image): keyed by the manifest digest the reference resolves to
 * (./resolve.ts); its run unpacks the layers into chain-ID snapshots (./unpack.ts).
 * Map history: v1 — the manifest digest.
 */
import { TsbuildError } from '../../../src/errors.js';
import type { ImageSource } from '../../../src/llb/types.js';
import type { OpEnv, OpModule, StoredMap } from '../op.js';
import { missingFact, short } from '../reasons.js';
import { resolveImage, type ResolvedImage } from './resolve.js';
import { unpackImage } from './unpack.js';

export const IMAGE_TAG = 'tsbuild.source.image.v1';

export type ImageCacheMap = { tag: typeof IMAGE_TAG; digest: string };

/** Each image vertex is resolved once per solve (key facts and run share it). */
function resolved(env: OpEnv, vertexDigest: string, source: ImageSource): Promise<ResolvedImage> {
  return env.once(`image:${vertexDigest}`, () => resolveImage(source, env.deps));
}

export const imageOp: OpModule<'image', ImageCacheMap> = {
  kind: 'image',
  tag: IMAGE_TAG,
  output: 'base',
  baseLayers(op, facts) {
    if (!facts.imageLayers) throw new TsbuildError('INTERNAL', `image source ${op.source.ref}: its layers are unknown`);
    return facts.imageLayers;
  },
  trivial: false,
  cacheMap(op, _inputs, facts) {
    if (!facts.imageDigest) throw missingFact(`manifest digest of image ${op.source.ref}`);
    return { tag: IMAGE_TAG, digest: facts.imageDigest };
  },
  readMap: (s: StoredMap) => (s.tag === IMAGE_TAG && typeof s.digest === 'string' ? (s as ImageCacheMap) : undefined),
  explain: (a, b) => (a.digest === b.digest ? [] : [`base image changed: ${short(a.digest)} → ${short(b.digest)}`]),
  async keyFacts(op, { vertex }, env) {
    const img = await resolved(env, vertex.digest, op.source);
    return { imageDigest: img.manifestDigest, imageLayers: img.layers };
  },
  async run(op, ctx, env) {
    const img = await resolved(env, ctx.vertex.digest, op.source);
    return { snapshot: await unpackImage(img, { ...env.deps, signal: ctx.signal, name: op.source.ref }) };
  },
};
