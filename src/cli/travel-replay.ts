/**
 * The replay of a travelling rebuild memo (./travel-memo.ts), tried by ./replay.ts when a command pushes its
 * image and reads a registry cache (`--cache-from`): a CI job on a fresh machine. With bare requests
 * (src/registry/bare.ts: no credentials, so open registries only) it reads the cache manifest and config (the
 * config verified by digest), checks every fact of the memo the config carries against this command and this
 * machine, and then pushes the memo's image under the command's names: each blob the target repository lacks
 * is mounted from the cache's repository or a base image's (the image config, which no cache holds, is
 * uploaded from the memo), then the manifest is put. Anything that does not check out, or any answer but
 * the expected one, returns undefined and the normal path runs (it reaches the same image the slow way).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import type { BuildArgs } from './args.js';
import { storeLayout, storeRoot } from './store-root.js';
import { selectRenderer } from './render/select.js';
import { inputsUnchanged } from './rebuild-memo.js';
import { cacheSpecOf, contextDigest, outputNames, parseTravelMemo, travelKey, type TravelMemo } from './travel-memo.js';
import { headTag } from './tag-check.js';
import { BareRegistry } from '../registry/bare.js';
import { configKey, dockerConfigPath } from '../registry/docker-config-path.js';
import { apiHost, isInsecure, isLocalHost } from '../registry/insecure.js';
import { normalizeReference, parseReference } from '../image/reference.js';
import { MediaType, type Descriptor } from '../image/types.js';
import { LocalImageStore } from '../imagestore/store.js';
import { CACHE_FORMAT_VERSION, MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES, isImageConfigType, parseCacheManifest, parseManifestShape } from '../cache/remote/format.js';

const sha256 = (b: Buffer | string): string => 'sha256:' + createHash('sha256').update(b).digest('hex');

/** TSBUILD_MEMO_DEBUG=1: say on stderr why the travelling memo did or did not answer. */
function said(what: string): undefined {
  if (process.env.TSBUILD_MEMO_DEBUG) process.stderr.write(`travelling memo: ${what}\n`);
  return undefined;
}

/** The exit code when a travelling memo answered the (eligible) build; undefined when the build must run. */
export async function replayTravelling(args: BuildArgs, started: number): Promise<number | undefined> {
  const contextDir = resolve(args.context);
  const dockerfilePath = args.file !== undefined ? resolve(args.file) : join(contextDir, 'Dockerfile');
  const key = travelKey(args, contextDir, dockerfilePath);
  if (key === undefined) return said('the Dockerfile is outside the context');
  const source = normalizeReference(args.cacheFrom[0]!.target);
  const src = parseReference(source);
  const names = args.outputs.flatMap((o) => outputNames(o, args.tags)).map((n) => normalizeReference(n));
  const targets = names.map((n) => parseReference(n));
  if (targets.some((t) => t.domain !== src.domain || t.digest !== undefined)) return said('a name to push is in another registry than the cache');
  if (args.cacheTo.some((c) => normalizeReference(c.target) !== source)) return said('--cache-to names another cache than --cache-from');
  // The bare requests send no credentials: a registry the user has credentials for is left to the normal path.
  if (hasCredentials(src.domain)) return said(`credentials are configured for ${src.domain}: the normal path pushes with them`);

  const opened = await BareRegistry.open(src.domain, args.insecureRegistries, {
    path: `/v2/${src.path}/manifests/${src.digest ?? src.tag ?? 'latest'}`,
    headers: { accept: MediaType.OciManifest },
    maxBytes: MAX_MANIFEST_BYTES,
  });
  if (!opened) return said(`${source}: no cache manifest with a bare request (a registry that wants credentials is asked by the normal path)`);
  const reg = opened.client;
  try {
    const manifest = parseCacheManifest(opened.first.body); // throws on anything but a tsbuild cache manifest
    const named = src.digest ?? opened.first.headers['docker-content-digest'];
    if (named !== undefined && sha256(opened.first.body) !== named) return said(`${source}: the manifest does not match its digest`);
    const cfg = await reg.request('GET', `/v2/${src.path}/blobs/${manifest.config.digest}`, { maxBytes: MAX_CONFIG_BYTES });
    if (cfg.status !== 200 || cfg.body.length !== manifest.config.size || sha256(cfg.body) !== manifest.config.digest) return said(`${source}: the cache config did not come (or not whole)`);
    const config = JSON.parse(cfg.body.toString('utf8')) as { version?: unknown; records?: unknown[]; memo?: unknown };
    if (config?.version !== CACHE_FORMAT_VERSION || !Array.isArray(config.records)) return said(`${source}: unknown cache format`);
    const memo = parseTravelMemo(config.memo);
    if ('none' in memo) return said(`${source}: ${memo.none}`);
    const why = await stillHolds(memo, args, key, contextDir, dockerfilePath);
    if (why !== undefined) return said(why);
    const image = imageOf(memo);
    if (typeof image === 'string') return said(image);

    // The push: every blob the target repository lacks is mounted (the config uploaded), then the manifest.
    // Where the blobs are, most likely first: where the exporting build pushed the image (every blob, base
    // layers too), the cache's repository (step layers), the base images' repositories.
    const mountFrom = [...new Set([...memo.pushed.filter((r) => r.domain === src.domain).map((r) => r.path), src.path, ...memo.tags.filter((r) => r.domain === src.domain).map((r) => r.path)])];
    const counts = { uploaded: 0, mounted: 0, skipped: 0 };
    for (const repo of [...new Set(targets.map((t) => t.path))]) {
      const ok = await Promise.all([image.config, ...image.layers].map((d) => ensureBlob(reg, repo, d, mountFrom, d === image.config ? image.configBytes : undefined, counts)));
      if (!ok.every(Boolean)) return said(`a blob of the image could not be mounted into ${repo}`);
    }
    for (const t of targets) {
      const put = await reg.request('PUT', `/v2/${t.path}/manifests/${t.tag ?? 'latest'}`, { headers: { 'content-type': image.mediaType }, body: image.manifestBytes });
      if (put.status !== 201 && put.status !== 200) return said(`the manifest put to ${t.path} was answered ${put.status}`);
    }
    said('replayed');
    show(args, memo, started, {
      source,
      written: [
        `writing image ${image.digest}`,
        `pushed ${names.join(', ')} (${counts.uploaded} uploaded, ${counts.mounted} mounted, ${counts.skipped} already there)`,
        ...args.cacheTo.map(() => `cache ${source} already holds this build (${config.records!.length} records)`),
      ].join('; '),
      names,
    });
    return 0;
  } finally {
    reg.close();
  }
}

/** The Docker client config names credentials (or a helper) for `domain`. An unreadable config names none. */
function hasCredentials(domain: string): boolean {
  let cfg: { auths?: Record<string, unknown>; credHelpers?: Record<string, unknown>; credsStore?: unknown };
  try {
    cfg = JSON.parse(readFileSync(dockerConfigPath(), 'utf8')) as typeof cfg;
  } catch {
    return false;
  }
  const key = configKey(domain);
  return !!cfg && (!!cfg.credsStore || !!cfg.credHelpers?.[key] || !!cfg.auths?.[key]);
}

/** Undefined when every fact of `memo` holds for this command on this machine; else why not. */
async function stillHolds(memo: TravelMemo, args: BuildArgs, key: string, contextDir: string, dockerfilePath: string): Promise<string | undefined> {
  if (memo.key !== key) return 'the memo is of another command (flags, environment or tsbuild version)';
  for (const c of args.cacheTo) if (JSON.stringify(cacheSpecOf(c)) !== JSON.stringify(memo.cache)) return '--cache-to asks for another export than the cache holds';
  // The inputs the normal path reads: the Dockerfile, then <Dockerfile>.dockerignore, else .dockerignore.
  const file = relative(contextDir, dockerfilePath).split(sep).join('/');
  const want = [file, `${file}.dockerignore`, '.dockerignore'];
  const got = new Map(memo.inputs.map((i) => [i.path, i.sha256]));
  if (!got.has(want[0]!) || !got.has(want[1]!) || (got.get(want[1]!) === null && !got.has(want[2]!)) || ![...got.keys()].every((p) => want.includes(p))) return 'the memo reads other inputs';
  for (const [p, h] of got) if (!inputsUnchanged([{ path: join(contextDir, p), sha256: h }])) return `${p} changed`;
  if (contextDigest(contextDir, memo.paths) !== memo.context) return 'the context differs';
  const images = new LocalImageStore(storeLayout(storeRoot(args.root)).images);
  for (const [name, digest] of memo.names) if ((await images.get(name))?.target.digest !== digest) return `${name} is not this store's ${digest}`;
  const states = await Promise.all(
    memo.tags.map((t) => {
      const host = apiHost(t.domain);
      const insecure = isInsecure(t.domain, { insecure: args.insecureRegistries });
      if (t.base !== `https://${host}` && !(t.base === `http://${host}` && (insecure || isLocalHost(t.domain)))) return { state: 'unknown' as const, why: 'an unexpected registry address' };
      return headTag({ ...t, insecure });
    }),
  );
  for (const [i, s] of states.entries()) if (s.state !== 'fresh') return `${memo.tags[i]!.name}: ${s.state === 'moved' ? 'moved' : s.why}`;
  return undefined;
}

interface ReplayImage {
  mediaType: string;
  manifestBytes: Buffer;
  digest: string;
  config: Descriptor;
  configBytes: Buffer;
  layers: Descriptor[];
}

/** The memo's image, checked (an image manifest whose config is the memo's config); else why not. */
function imageOf(memo: TravelMemo): ReplayImage | string {
  const manifestBytes = Buffer.from(memo.image.manifest, 'utf8');
  const configBytes = Buffer.from(memo.image.config, 'utf8');
  let m;
  try {
    m = parseManifestShape(manifestBytes, 'image manifest');
  } catch (err) {
    return (err as Error).message;
  }
  const mediaType = m.mediaType ?? MediaType.OciManifest;
  if (mediaType !== MediaType.OciManifest && mediaType !== MediaType.DockerManifest) return 'the memo\'s image is not an image manifest';
  if (!isImageConfigType(m.config.mediaType) || m.config.digest !== sha256(configBytes) || m.config.size !== configBytes.length) return 'the memo\'s image config does not match its manifest';
  return { mediaType, manifestBytes, digest: sha256(manifestBytes), config: m.config, configBytes, layers: m.layers };
}

/** The blob is in `repo` (there already, mounted from one of `from`, or `bytes` uploaded); false when not. */
async function ensureBlob(reg: BareRegistry, repo: string, d: Descriptor, from: string[], bytes: Buffer | undefined, counts: { uploaded: number; mounted: number; skipped: number }): Promise<boolean> {
  const head = await reg.request('HEAD', `/v2/${repo}/blobs/${d.digest}`);
  if (head.status === 200) return (counts.skipped++, true);
  if (head.status !== 404) return false;
  for (const f of from.filter((x) => x !== repo)) {
    const m = await reg.request('POST', `/v2/${repo}/blobs/uploads/?mount=${encodeURIComponent(d.digest)}&from=${encodeURIComponent(f)}`);
    if (m.status === 201) return (counts.mounted++, true);
    if (m.status === 202 && typeof m.headers.location === 'string') await reg.request('DELETE', uploadPath(reg, m.headers.location)).catch(() => undefined);
  }
  if (!bytes) return false;
  const start = await reg.request('POST', `/v2/${repo}/blobs/uploads/`);
  if (start.status !== 202 || typeof start.headers.location !== 'string') return false;
  const at = uploadPath(reg, start.headers.location);
  const put = await reg.request('PUT', `${at}${at.includes('?') ? '&' : '?'}digest=${encodeURIComponent(d.digest)}`, { headers: { 'content-type': 'application/octet-stream' }, body: bytes });
  if (put.status !== 201) return false;
  counts.uploaded++;
  return true;
}

/** An upload Location (absolute or relative) as a path on this registry; another host is refused. */
function uploadPath(reg: BareRegistry, location: string): string {
  const u = new URL(location, reg.base);
  if (u.origin !== new URL(reg.base).origin) throw new Error('an upload location on another host');
  return u.pathname + u.search;
}

/** The progress the normal path shows for this all-CACHED build and push. */
function show(args: BuildArgs, memo: TravelMemo, started: number, o: { source: string; written: string; names: string[] }): void {
  for (const n of args.notes) process.stderr.write(`WARNING: ${n}\n`);
  const progress = selectRenderer(args.progress);
  const now = () => Date.now();
  progress.emit({ type: 'vertex.started', id: 'cache-from:0', name: `importing cache manifest from ${o.source}`, at: now() });
  progress.emit({ type: 'vertex.done', id: 'cache-from:0', name: `importing cache manifest from ${o.source}`, at: now(), durationMs: 0 });
  for (const e of memo.script) progress.emit('at' in e ? { ...e, at: now() } : e);
  progress.emit({ type: 'vertex.started', id: 'export', name: 'exporting to image', at: now() });
  progress.emit({ type: 'vertex.started', id: 'export:push', name: `pushing ${o.names.join(', ')}`, at: now() });
  progress.emit({ type: 'vertex.done', id: 'export:push', name: `pushing ${o.names.join(', ')}`, at: now(), durationMs: 0 });
  progress.emit({ type: 'vertex.done', id: 'export', name: 'exporting to image', at: now(), durationMs: 0 });
  progress.emit({ type: 'info', message: o.written });
  progress.emit({ type: 'info', message: `build finished in ${((Date.now() - started) / 1000).toFixed(2)}s` });
  progress.close();
}
