/**
 * The http source (ADD <url>): keyed by the content's digest (the --checksum when given, so no download is
 * needed to know the key; else the download's); its run writes the file into a snapshot (./download.ts).
 * Map history: v1 — content digest and file name.
 */
import type { OpModule, StoredMap } from '../op.js';
import { missingFact, notARootfs, short } from '../reasons.js';
import { download, materializeDownload } from './download.js';

export const HTTP_TAG = 'tsbuild.source.http.v1';

export type HttpCacheMap = { tag: typeof HTTP_TAG; digest: string; filename: string };

export const httpOp: OpModule<'http', HttpCacheMap> = {
  kind: 'http',
  tag: HTTP_TAG,
  output: 'base',
  baseLayers: (op) => notARootfs(`http source "${op.source.url}"`),
  trivial: false,
  cacheMap(op, _inputs, facts) {
    if (!facts.httpDigest) throw missingFact(`content digest of ${op.source.url}`);
    return { tag: HTTP_TAG, digest: facts.httpDigest, filename: op.source.filename };
  },
  readMap: (s: StoredMap) =>
    s.tag === HTTP_TAG && typeof s.digest === 'string' && typeof s.filename === 'string' ? (s as unknown as HttpCacheMap) : undefined,
  explain: (a, b) => [
    ...(a.digest === b.digest ? [] : [`downloaded content changed: ${short(a.digest)} → ${short(b.digest)}`]),
    ...(a.filename === b.filename ? [] : [`file name changed: ${a.filename} → ${b.filename}`]),
  ],
  async keyFacts(op, { vertex, signal }, env) {
    // With --checksum the key is known without a download (the run verifies it); else download now.
    if (op.source.checksum !== undefined) return { httpDigest: op.source.checksum };
    const d = await env.once(`http:${vertex.digest}`, () => download(op.source, env.deps, signal));
    return { httpDigest: d.digest };
  },
  async run(op, ctx, env) {
    const { deps } = env;
    let d = op.source.checksum === undefined ? await env.once(`http:${ctx.vertex.digest}`, () => download(op.source, deps, ctx.signal)) : undefined;
    if (!d || !(await deps.content.has(d.digest))) d = await download(op.source, deps, ctx.signal);
    return { snapshot: await materializeDownload(op.source, d, ctx.key, deps, ctx.noCache) };
  },
};
