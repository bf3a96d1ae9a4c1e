/**
 * The one composition root: reads the Dockerfile and context, runs the frontend, the solver and the
 * exporters, wiring the stores together. Nothing else imports frontend/, solver/ and exporters/ together.
 */
import { readFile, stat } from 'node:fs/promises';
import { resolve, relative, dirname, basename, join } from 'node:path';
import { parseBuildArgs, type BuildArgs } from './args.js';
import { materializeContext, type MaterializedContext } from './remote-context.js';
import { cleanupNamedContexts, prepareNamedContexts } from './named-contexts.js';
import { storeRoot, storeLayout, ensureStore } from './store-root.js';
import { selectRenderer } from './render/select.js';
import { ContextError, TsbuildError, UsageError } from '../errors.js';
import { readDockerignore } from '../context/dockerignore.js';
import { normalizeReference, familiarName } from '../image/reference.js';
import { LocalContentStore } from '../content/store.js';
import { LocalImageStore } from '../imagestore/store.js';
import { OverlaySnapshotter } from '../snapshot/overlay.js';
import { spreadSnapshotDirs } from '../snapshot/spread.js';
import { RuncExecutor } from '../executor/runc.js';
import { setupSandbox } from './sandbox.js';
import { beginBuild, markBuild } from './recover.js';
import { setTempLeaseDir } from '../fsutil/temp-lease.js';
import { resolveBaseImage, type BaseImage, type BaseImageDeps } from './resolve-image.js';
import type { TagCheck } from './tag-check.js';
import { PulledRecords } from '../registry/pulled.js';
import { BlobSources, registryOrigins } from '../registry/sources.js';
import { BlobFetcher } from '../content/fetch.js';
import type { RegistryClient } from '../registry/client.js';
import { RegistryExporter } from '../../exporters/registry.js';
import { formatExplain } from './explain.js';
import { enforceCacheCap, noteNewStore } from './auto-gc.js';
import { stepsLikely } from './steps-likely.js';
import { cacheTempDirs } from '../cache/gc.js';
import { binarySize } from '../units/bytes.js';
import { dockerfileOutline, dockerfileTargets, dockerfileToDefinition, formatOutline, formatTargets } from '../../frontend/index.js';
import { solveAll, unpackWhilePulling } from '../../solver/index.js';
import { writePlatformIndex, type PlatformImage } from '../../exporters/platforms.js';
import { parseImageOptions } from '../../exporters/options.js';
import { formatPlatform, hostPlatform } from '../image/platform.js';
import { ImageStoreExporter } from '../../exporters/image.js';
import { OciTarExporter } from '../../exporters/oci.js';
import { DockerTarExporter } from '../../exporters/docker.js';
import { DockerDaemonExporter } from '../../exporters/docker-daemon.js';
import { LocalExporter } from '../../exporters/local.js';
import { RootfsTarExporter } from '../../exporters/tar.js';
import { sourceDateEpoch, writeImageWith } from '../../exporters/manifest.js';
import { withImageOptions } from '../../exporters/options.js';
import { writeBuildMetadata } from './metadata.js';
import type { Exporter, ExportContext, ExportResponse, ImageBlobs } from '../../exporters/types.js';
import type { ProgressEvent, ProgressSink } from '../progress/types.js';
import { PathWitness } from '../context/witness.js';
import { StatCache } from '../context/statcache.js';
import { CacheStore } from '../cache/store.js';
import { checkEntitlements } from '../llb/entitlements.js';
import { mergeCacheSteps } from '../llb/result.js';
import { diskFullError } from '../fsutil/disk-full.js';
import { composeMemo, memoEligible, memoPath, saveMemo, sha256Text, type MemoInput } from './rebuild-memo.js';
import { cacheSpecOf, composeTravelMemo, memoCarriers, outputNames } from './travel-memo.js';
import type { CacheSpec } from './cache-specs.js';
import { Diagnostics } from '../diagnostics.js';
import { HistoryRecorder } from './history/record.js';
import { startHelper, stopHelper } from '../proc/helper.js';
import { releaseTarWorkers } from '../diff/tar-producer.js';

export async function buildCommand(argv: string[]): Promise<number> {
  const args = parseBuildArgs(argv);
  // stdin, git and URL contexts become a temp directory for the length of the build (./remote-context.ts).
  const remote = await materializeContext(args.context, { dockerfileFromStdin: args.file === '-' });
  try {
    return await runBuild(args, remote);
  } catch (err) {
    // A full disk is the store's problem, wherever it struck (marker, blob, snapshot, layer, record).
    throw diskFullError(err, storeLayout(storeRoot(args.root)).root) ?? err;
  } finally {
    await stopHelper(); // a helper started early (while the base image was checked) by a build that failed before its solve
    await remote?.cleanup();
    await cleanupNamedContexts();
  }
}

async function runBuild(args: BuildArgs, remote: MaterializedContext | undefined): Promise<number> {
  // -D/--debug: every module (and every error printed) sees it.
  if (args.debug) process.env.TSBUILD_DEBUG = '1';
  for (const n of args.notes) process.stderr.write(`WARNING: ${n}\n`);
  const { contextDir, dockerfilePath, dockerfileText, excludePatterns, ignoreInputs } = await readInputs(args, remote);
  // --call outline|targets: what the Dockerfile asks for, on stdout; nothing is built (frontend/outline.ts).
  if (args.call === 'outline' || args.call === 'targets') {
    const file = args.file === '-' ? 'Dockerfile' : basename(dockerfilePath);
    process.stdout.write(args.call === 'targets' ? formatTargets(dockerfileTargets(dockerfileText, file)) : formatOutline(dockerfileOutline(dockerfileText, file, args.target)));
    return 0;
  }
  const history = new HistoryRecorder();
  const progress = history.tee(selectRenderer(args.progress));
  const store = storeLayout(storeRoot(args.root));
  // A new store counts as measured (empty) for the cache cap's throttle (./auto-gc.ts): its first build skips measuring it.
  // Invalid cap settings are reported by the cap at the end of the build, not here.
  const newStore = await ensureStore(store);
  if (newStore) await noteNewStore(store.root).catch(() => {});
  setTempLeaseDir(store.leases);
  const content = new LocalContentStore(store.content);
  const images = new LocalImageStore(store.images);
  // The spread hint (chattr, once per store) just before the first snapshot dir: an all-hit build makes none.
  const snapshotter = new OverlaySnapshotter(store.snapshots, { beforeFirstDir: () => spreadSnapshotDirs(store.snapshots, store.state) });
  const execState = join(store.state, 'exec');
  const mountsDir = join(store.state, 'mounts');
  const runtime = process.env.TSBUILD_RUNTIME;
  const displayFile = args.file === '-' || remote?.dockerfileText !== undefined ? 'Dockerfile (stdin)' : remote ? relative(contextDir, dockerfilePath) : relative(process.cwd(), dockerfilePath) || basename(dockerfilePath);
  // The registry client (and undici) loads only when an image comes from or goes to a registry.
  let client: Promise<RegistryClient> | undefined;
  // A rebuild memo (./rebuild-memo.ts) is kept for plain builds whose every input it can check again.
  const memoFile = memoEligible(args) ? memoPath(store.root, args) : undefined;
  // A step will likely run (./steps-likely.ts): the helper (a perl process, ~30-40 ms to start) starts now,
  // while the Dockerfile is converted and the base image checked, not at the first step's lock.
  if (stepsLikely({ newStore, memoFile })) startHelper();
  // A registry --cache-to carries a travelling memo (./travel-memo.ts) when the command allows one.
  const carriers = memoCarriers(args);
  const witness = memoFile !== undefined || carriers.length > 0 ? new PathWitness() : undefined;
  const shown: ProgressEvent[] = [];
  const show = (e: ProgressEvent): void => {
    shown.push(e);
    progress.emit(e);
  };
  const baseRegistry = (): Promise<RegistryClient> =>
    (client ??= import('./registry-client.js').then((m) => m.makeRegistryClient(store.root, { insecure: args.insecureRegistries, progress })));
  // Checking base images by tag is what the rebuild memo can repeat (./tag-check.ts); any other use of the registry keeps it off.
  let registryUsed = false;
  const registry = (): Promise<RegistryClient> => {
    registryUsed = true;
    return baseRegistry();
  };
  const baseImages = new Map<string, Promise<BaseImage>>();
  // The one way to get a blob this store lacks by its digest (src/content/fetch.ts): from the registry
  // repositories it was pulled from or pushed to, and (added when they are loaded) the --cache-from sources.
  const blobSources = new BlobSources(join(store.root, 'registry', 'sources'));
  const fetcher = new BlobFetcher({ content, progress }).add(registryOrigins(blobSources, registry));
  // Without --cache-from, base layers are pulled with the image and unpack while they download
  // (solver/ops/image/unpack.ts), before beginBuild: the build is marked first so that a SIGKILL's active
  // snapshot is cleaned by the next build (./recover.ts). A cold build needs every base layer's files.
  // With --cache-from the build expects its steps to hit, and a build whose every step hits never reads its
  // base's files (unpacking a Debian base cost such a build seconds of CPU) nor, when its output is a push
  // to the base's registry (mounted) or nothing, its base's bytes: base images resolve lazily (manifests and
  // config only, ./resolve-image.ts); a step that misses, an output that writes layer bytes or a push that
  // must upload one fetches them then through `fetcher`.
  const lazyBase = args.cacheFrom.length > 0;
  const unpackTee = lazyBase ? undefined : unpackWhilePulling({ snapshotter, content });
  let marked: Promise<string> | undefined;
  const tee: BaseImageDeps['tee'] = unpackTee
    ? async (image, index) => {
        await (marked ??= markBuild(store.state));
        return unpackTee(image, index);
      }
    : undefined;
  // --cache-from (./cache-travel.ts) is read while the Dockerfile is converted and the store recovered (a
  // network round trip or two that nothing before the solve needs); awaited by the solver at its first local miss.
  const importAbort = new AbortController();
  const importing = args.cacheFrom.length
    ? import('./cache-travel.js').then((m) => m.loadCacheSources(args.cacheFrom, { content, snapshotter, registry, progress, blobs: fetcher, signal: importAbort.signal }))
    : undefined;
  importing?.catch(() => {}); // a build that fails before the solve never awaits it

  // --platform a,b: the Dockerfile is converted once per target platform; the solver solves them together.
  const platforms = args.platforms ?? [args.platform];
  const named = args.buildContexts.length ? await prepareNamedContexts(args.buildContexts, { content, platforms }) : undefined;
  const multi = platforms.length > 1;
  const converted = [];
  for (const platform of platforms) {
    converted.push(
      await dockerfileToDefinition({
        ...(args.call !== 'build' ? { checkOnly: true } : {}),
        dockerfile: dockerfileText,
        dockerfilePath: displayFile,
        excludePatterns,
        buildArgs: args.buildArgs,
        ...(args.target !== undefined ? { target: args.target } : {}),
        platform,
        buildPlatform: hostPlatform(),
        ...(multi ? { platformInNames: true } : {}),
        ...(named ? { namedContexts: named.named } : {}),
        resolveImage: (ref, p) => {
          const layout = named?.resolved.get(`${formatPlatform(p)} ${ref}`);
          if (layout) return Promise.resolve(layout);
          // Each base image is resolved once per build and platform (one HEAD at most); see resolve-image.ts.
          const id = `${formatPlatform(p)} ${ref}`;
          let r = baseImages.get(id);
          if (!r) {
            r = resolveBaseImage(ref, { content, images, client: baseRegistry, pulled: new PulledRecords(join(store.root, 'registry', 'pulled')), platform: p, progress, pull: args.pull, insecure: args.insecureRegistries, sources: blobSources, lazy: lazyBase, ...(tee ? { tee } : {}) });
            baseImages.set(id, r);
          }
          return r;
        },
      }),
    );
  }
  const definitions = converted.map((c) => c.definition);
  const { definition, stages: stageList } = converted[0]!;
  // Each platform's conversion reports the same Dockerfile problems: each is shown once.
  const warnings = [...new Map(converted.flatMap((c) => c.warnings).map((w) => [`${w.rule ?? ''}\0${w.line ?? ''}\0${w.message}`, w])).values()];
  for (const w of warnings) show({ type: 'warning', message: w.rule ? `${w.rule}: ${w.message}` : w.message, file: w.file, ...(w.line !== undefined ? { line: w.line } : {}) });
  if (args.check) {
    const found = warnings.filter((w) => w.rule !== undefined).length;
    progress.emit({ type: 'info', message: found === 0 ? 'Check complete, no warnings found.' : `Check complete, ${found} warning${found === 1 ? ' has' : 's have'} been found!` });
    progress.close();
    return found === 0 ? 0 : 1;
  }
  // Stages the target does not reach are not built; say so, as BuildKit does.
  for (const st of stageList.filter((x) => !x.reachable)) {
    const label = st.name || `stage-${st.index}`;
    show({ type: 'vertex.skipped', id: `stage:${st.index}`, name: `[${label}] stage ${label}`, reason: 'not needed by the target stage' });
  }
  if (args.printDefinition) {
    progress.close();
    process.stdout.write(JSON.stringify(multi ? definitions : definition, null, 2) + '\n');
    return 0;
  }

  // RUN --network=host / --security=insecure need the runner's consent (--allow), before anything runs.
  try {
    for (const d of definitions) checkEntitlements(d, new Set(args.sandbox.allow));
  } catch (err) {
    throw withLineText(err, dockerfileText);
  }
  const exporters = makeExporters(args, registry);
  if (multi) checkMultiPlatform(exporters);
  for (const e of exporters) if (e instanceof DockerDaemonExporter) await e.check(); // no daemon: say so before building
  if (args.push) {
    if (args.tags.length === 0) throw new TsbuildError('USAGE', '--push needs a name: use -t REGISTRY/REPO:TAG');
    const push = new RegistryExporter(args.tags.map((t) => normalizeReference(t)), registry);
    exporters.push(withImageOptions(push, args.annotations));
  }
  const stages = new Set(Object.values(definition.metadata).map((m) => m.stage));
  for (const s of args.noCacheFilter.filter((f) => !stages.has(f))) {
    progress.emit({ type: 'warning', message: `--no-cache-filter ${s}: no stage of this build is named ${s}` });
  }
  // Secrets are read and SSH agents started before anything is registered (a bad --secret fails fast).
  const sandbox = await setupSandbox(args.sandbox);
  const executor = new RuncExecutor({ stateDir: execState, defaultNetwork: sandbox.defaultNetwork, extraHosts: args.extraHosts, ...(runtime ? { runtime } : {}) });
  // What a killed build left behind goes first; see recover.ts.
  const endBuild = await beginBuild({
    content,
    snapshotter,
    stateDir: store.state,
    execStateDir: execState,
    mountsDir,
    tempDirs: [...cacheTempDirs(store.cache), store.images, join(store.state, 'memo'), join(store.snapshots, 'meta'), join(store.root, 'history'), join(store.content, 'variants'), join(store.root, 'registry', 'schemes')],
    leasesDir: store.leases,
    cacheMountsDir: join(dirname(store.cache), 'cachemounts'),
    ...(runtime ? { runtime } : {}),
  });
  const controller = new AbortController();
  const onSignal = () => {
    const why = new TsbuildError('INTERRUPTED', 'build interrupted');
    importAbort.abort(why);
    controller.abort(why);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const started = Date.now();
  let succeeded = false;
  // Diagnostics after the build (rebuild memo, --explain, history) never change its result: see src/diagnostics.ts.
  const diagnostics = new Diagnostics((message) => progress.emit({ type: 'warning', message }));
  let failure: { error: unknown } | undefined;
  try {
    // --cache-from (./cache-travel.ts): a layer blob stays in its source until an output needs its bytes.
    const travel = { content, snapshotter, registry, progress, blobs: fetcher, signal: controller.signal };
    // The solver computes the keys (context checksums included) while the sources load, and waits for them
    // at the first step the local cache misses; cache mounts are restored before any step runs.
    const importedReady = importing?.then((i) => {
      if (i) i.lazyOutput = pushOnly(args);
      return i;
    });
    const cacheMountsDir = join(dirname(store.cache), 'cachemounts');
    const mountIds = args.cacheFrom.length || args.cacheTo.some((c) => c.cacheMounts) ? (await import('../cache/remote/mounts.js')).cacheMountIds(definition) : [];
    if (importedReady && mountIds.length) await (await import('./cache-travel.js')).restoreCacheMounts(await importedReady, mountIds, cacheMountsDir, travel);
    const results = await solveAll(definitions, {
      content,
      snapshotter,
      executor,
      images,
      cacheDir: store.cache,
      stateDir: mountsDir,
      locksDir: join(store.state, 'locks'),
      blobs: fetcher,
      locals: { ...named?.locals, context: contextDir },
      progress,
      signal: controller.signal,
      noCache: args.noCache,
      noCacheStages: args.noCacheFilter,
      sandbox: { limits: args.sandbox.limits, secrets: sandbox.secrets, ssh: sandbox.ssh, cacheMountsDir },
      ...(witness ? { witness } : {}),
      ...(importedReady ? { imported: importedReady } : {}),
    }).catch((err) => {
      throw withLineText(err, dockerfileText);
    });
    const imported = await importedReady;
    const t0 = Date.now();
    progress.emit({ type: 'vertex.started', id: 'export', name: 'exporting to image', at: t0 });
    const result = results[0]!;
    const sde = sourceDateEpoch(args.buildArgs);
    // --cache-to type=inline: each image config carries its chain's cache records (./cache-travel.ts).
    const inlineOf = args.cacheTo.some((c) => c.type === 'inline') ? (await import('./cache-travel.js')).inlineCacheOf : undefined;
    const inlines = results.map((r) => inlineOf?.(r));
    const inline = inlines[0];
    const optionsList = inlines.map((c) => ({ ...(sde !== undefined ? { sourceDateEpoch: sde } : {}), labels: args.labels, ...(c ? { inlineCache: c.field } : {}) }));
    const imageOptions = optionsList[0]!;
    const perPlatform: PlatformImage[] = [];
    for (const [i, r] of results.entries()) perPlatform.push({ platform: platforms[i]!, result: r, blobs: await writeImageWith(r, content, optionsList[i]!) });
    const ensureBlob = (d: { digest: string; size: number; mediaType: string }) => fetcher.ensure(d, controller.signal);
    // An output other than a plain push reads (or keeps) the layers' bytes: lazy ones (base layers resolved
    // without them, imported cache layers) come in now; a push fetches only what it cannot mount or skip.
    if (!pushOnly(args)) {
      const wanted = new Map(results.flatMap((r) => r.layers).map((l) => [l.descriptor.digest, l.descriptor]));
      await Promise.all(
        [...wanted.values()].map((d) =>
          ensureBlob(d).catch((err: unknown) => {
            if (controller.signal.aborted) throw err;
            throw new TsbuildError('BLOB_FETCH_FAILED', `layer ${d.digest} of the image is not in the local store yet and could not be fetched for the output: ${(err as Error).message}`, { cause: err });
          }),
        ),
      );
    }
    const ctx = { content, images, progress, signal: controller.signal, snapshotter, mountsDir, imageOptions, ensureBlob };
    // Several platforms: the build's image is the index of its platforms' images (its digest is the build's ID).
    const blobs = multi ? await defaultIndex(perPlatform, ctx) : perPlatform[0]!.blobs;
    if (imported && exporters.length) {
      const { noteLazySources } = await import('./cache-travel.js');
      const { registryDirs } = await import('./registry-client.js');
      await noteLazySources(imported, result.layers.map((l) => l.descriptor), content, registryDirs(store.root).sources);
    }
    const messages: string[] = [];
    const responses: ExportResponse[] = [];
    for (const e of exporters) {
      const r = multi ? await e.exportPlatforms!(perPlatform, ctx) : await e.export(result, blobs, ctx);
      responses.push(r);
      messages.push(r.message);
    }
    if (inline) messages.push(`exported ${inline.records} cache records inline`);
    if (args.cacheTo.length) {
      // The travelling memo (./travel-memo.ts) is a diagnostic: one that cannot be made is a warning at most.
      const travelling = carriers.length && witness
        ? await diagnostics.bestEffort('composing the travelling rebuild memo', async () => {
            const m = await composeTravelMemo({
              args,
              contextDir,
              dockerfilePath,
              inputs: [{ path: dockerfilePath, sha256: sha256Text(dockerfileText) }, ...ignoreInputs],
              witness,
              statCache: await StatCache.open(join(store.cache, 'statcache')), // the solver's (solver/index.ts), as it flushed it
              definition,
              checks: await tagChecks(baseImages),
              bases: baseNames(baseImages),
              images,
              // What the pushes pushed (every output is a plain push: the registry default of the image).
              manifest: await content.read((responses[0]?.manifest ?? blobs.manifest).digest),
              config: await content.read((responses[0]?.config ?? blobs.config).digest),
              pushed: args.outputs.flatMap((o) => outputNames(o, args.tags)).map((n) => normalizeReference(n)),
              shown,
              steps: result.vertices,
            });
            if (process.env.TSBUILD_MEMO_DEBUG) process.stderr.write(`travelling memo: ${'none' in m ? `not kept: ${m.none}` : 'kept'}\n`);
            return 'none' in m ? undefined : m;
          })
        : undefined;
      const memo = travelling ? (spec: CacheSpec) => (carriers.includes(spec) ? { ...travelling, cache: cacheSpecOf(spec) } : undefined) : undefined;
      const { exportCaches } = await import('./cache-travel.js');
      const sources = () => import('./registry-client.js').then((m) => m.registryDirs(store.root).sources);
      const cache = new CacheStore({ dir: store.cache, snapshotExists: async (name) => (await snapshotter.stat(name))?.kind === 'committed' });
      messages.push(...(await exportCaches(args.cacheTo, multi ? { ...result, cacheSteps: mergeCacheSteps(results) } : result, { ...travel, cache, imported, sources, mounts: { ids: mountIds, dir: cacheMountsDir }, ...(memo ? { memo } : {}) })));
    }
    await writeBuildMetadata({ args, result, blobs, responses, names: args.tags.map((t) => normalizeReference(t)) });
    progress.emit({ type: 'vertex.done', id: 'export', name: 'exporting to image', at: Date.now(), durationMs: Date.now() - t0 });
    const written = `writing image ${multi ? 'index ' : ''}${blobs.manifest.digest}${messages.length ? `; ${messages.join('; ')}` : ''}`;
    progress.emit({ type: 'info', message: written });
    if (result.vertices.some((v) => !v.cached)) {
      const keep = new Set(result.vertices.flatMap((v) => (v.cacheKey ? [v.cacheKey] : [])));
      // SIGINT/SIGTERM stop the cap between two removals (the image is already written). The cap is
      // housekeeping after the result: like a diagnostic it never fails the build (a bad cap setting or a
      // failed removal is a warning; the next build tries again).
      const pruned = await diagnostics.bestEffort('the cache cap', async () => {
        try {
          return await enforceCacheCap(store.root, keep, controller.signal);
        } catch (err) {
          if (controller.signal.aborted) return undefined;
          if (!(err instanceof TsbuildError)) throw err;
          progress.emit({ type: 'warning', message: `cache cap not enforced: ${err.message}` });
          return undefined;
        }
      });
      if (pruned) progress.emit({ type: 'info', message: `cache over its cap: removed ${pruned.records} least recently used records (${binarySize(pruned.freed)})` });
      controller.signal.throwIfAborted();
    }
    if (memoFile !== undefined && witness) await diagnostics.bestEffort('writing the rebuild memo', async () => {
      const memo = await composeMemo({
        registryUsed,
        checks: await tagChecks(baseImages),
        inputs: [{ path: dockerfilePath, sha256: sha256Text(dockerfileText) }, ...ignoreInputs],
        witness,
        definition,
        result,
        manifest: blobs.manifest.digest,
        config: blobs.config.digest,
        bases: baseNames(baseImages),
        tags: args.tags.map((t) => normalizeReference(t)),
        images,
        cache: new CacheStore({ dir: store.cache, snapshotExists: async (name) => (await snapshotter.stat(name))?.kind === 'committed', layerExists: (l) => content.has(l.descriptor.digest) }),
        shown,
        message: written,
      });
      // A memo that cannot be written only costs the next build its shortcut.
      if ('format' in memo) await saveMemo(memoFile, memo).catch(() => {});
      if (process.env.TSBUILD_MEMO_DEBUG) process.stderr.write(`rebuild memo: ${'format' in memo ? 'saved' : `not saved: ${memo.none}`}\n`);
    });
    if (args.explain) {
      diagnostics.bestEffortSync('--explain', () => {
        const text = formatExplain(result.vertices);
        if (args.progress === 'quiet' || args.progress === 'none') process.stderr.write(text + '\n');
        else progress.emit({ type: 'info', message: text });
      });
    }
    // -q: the image ID on stdout, as `docker build -q` (IMG=$(tsbuild build -q .)).
    if (args.quiet) process.stdout.write(blobs.config.digest + '\n');
    succeeded = true;
    return 0;
  } catch (err) {
    failure = { error: err };
    throw err;
  } finally {
    // the tar workers exit while the rest is written (the process's exit waits for them)
    const released = releaseTarWorkers();
    await history.finish({ root: store.root, definition, context: contextDir, dockerfile: displayFile, ...(args.target !== undefined ? { target: args.target } : {}), tags: args.tags, ...failure, diagnostics });
    await executor.close().catch(() => {});
    await sandbox.close();
    await stopHelper(); // no process of the build outlives it (the helper would exit on its own a moment later)
    await endBuild();
    await released;
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    // The closing line, when nothing is left to do but exit.
    if (succeeded) progress.emit({ type: 'info', message: `build finished in ${((Date.now() - started) / 1000).toFixed(2)}s` });
    progress.close(!succeeded);
  }
}

/** Outputs that hold one image only (type=docker, --load) refuse a multi-platform build, as buildx's docker exporter. */
function checkMultiPlatform(exporters: Exporter[]): void {
  for (const e of exporters) {
    if (e.exportPlatforms) continue;
    if (e instanceof DockerDaemonExporter) throw new UsageError('docker exporter does not currently support exporting manifest lists', { hint: 'build one platform for --load, or use --push or -o type=oci,dest=FILE for several' });
    if (e instanceof DockerTarExporter) throw new UsageError('docker exporter does not support exporting manifest lists, use the oci exporter instead');
    throw new UsageError(`the ${e.type} output cannot hold several platforms`, { hint: 'build one platform for it' });
  }
}

/** The index of a multi-platform build's default images (no output options). */
async function defaultIndex(images: PlatformImage[], ctx: ExportContext): Promise<ImageBlobs> {
  const { index } = await writePlatformIndex(images, parseImageOptions({}), true, ctx);
  return { manifest: index, config: index };
}

/** The normalized names of the base images (their ids are `PLATFORM REF`). */
function baseNames(bases: Map<string, Promise<BaseImage>>): string[] {
  return [...new Set([...bases.keys()].map((id) => normalizeReference(id.slice(id.indexOf(' ') + 1))))];
}

/** The base images' tag checks for the memo, or why one cannot be repeated. */
async function tagChecks(bases: Map<string, Promise<BaseImage>>): Promise<TagCheck[] | { none: string }> {
  const checks: TagCheck[] = [];
  for (const r of await Promise.allSettled(bases.values())) {
    if (r.status === 'rejected') return { none: 'a base image could not be resolved' };
    const b = r.value;
    if (b.unchecked) return { none: `${b.ref} could not be checked with its registry` };
    if (b.check) checks.push(b.check);
  }
  return checks;
}

/** True when every output is a plain registry push (no output reads layer bytes or the rootfs). */
function pushOnly(args: BuildArgs): boolean {
  if (args.load) return false;
  if (args.outputs.length === 0) return args.tags.length === 0;
  return args.outputs.every((o) => o.type === 'registry' && Object.keys(o.attrs).every((k) => k === 'type' || k === 'name' || k === 'push'));
}

/** The outputs a build writes: -o specs, -t (image store), --push, --load. See README "Outputs". */
function makeExporters(args: BuildArgs, registry: () => Promise<RegistryClient>): Exporter[] {
  const names = args.tags.map((t) => normalizeReference(t));
  const namesOf = (o: { name?: string }) => outputNames(o, names).map((n) => normalizeReference(n));
  const out: Exporter[] = [];
  // --annotation applies to every output that writes an image; the output's own attributes win.
  const ann = args.annotations;
  const withAnn = (attrs: Record<string, string>) => ({ ...ann, ...attrs });
  if (args.outputs.length === 0 && names.length > 0) out.push(new ImageStoreExporter(names, ann));
  for (const raw of args.outputs) {
    const o = raw.type === 'local' || raw.type === 'tar' ? raw : { ...raw, attrs: withAnn(raw.attrs) };
    switch (o.type) {
      case 'image': {
        const all = [...new Set([...namesOf(o), ...(o.name ? names : [])])];
        if (all.length === 0) throw new UsageError('type=image output needs a name: use -t NAME or name=NAME');
        if (o.attrs.store !== 'false') out.push(new ImageStoreExporter(all, o.attrs));
        if (o.attrs.push === 'true') out.push(withImageOptions(new RegistryExporter(all, registry), o.attrs));
        break;
      }
      case 'registry':
        out.push(withImageOptions(new RegistryExporter(namesOf(o), registry), o.attrs));
        break;
      case 'oci':
        out.push(new OciTarExporter(o.dest!, namesOf(o)[0], { directory: o.attrs.tar === 'false', attrs: o.attrs }));
        break;
      case 'docker':
        if (o.dest) out.push(new DockerTarExporter(o.dest, namesOf(o), o.attrs));
        else out.push(new DockerDaemonExporter(namesOf(o), o.attrs));
        break;
      case 'local':
        out.push(new LocalExporter(o.dest!, { keepSetuid: o.attrs['keep-setuid'] === 'true' }));
        break;
      case 'tar':
        out.push(new RootfsTarExporter(o.dest!));
        break;
    }
  }
  if (args.load) out.push(new DockerDaemonExporter(names, ann));
  if (args.outputs.filter((o) => o.dest === '-').length > 1) throw new UsageError('only one output can write to stdout (dest=-)');
  return out;
}

async function readInputs(args: BuildArgs, remote: MaterializedContext | undefined) {
  const contextDir = remote?.dir ?? resolve(args.context);
  const st = await stat(contextDir).catch(() => undefined);
  if (!st) {
    throw new ContextError('CONTEXT_NOT_FOUND', `build context "${args.context}" does not exist: tried the directory ${contextDir}; it is not "-" (stdin), a git URL (https://…/repo.git#ref:dir, git@host:repo) or an http(s) URL`);
  }
  if (!st.isDirectory()) throw new ContextError('CONTEXT_NOT_DIR', `build context "${args.context}" is not a directory (nor "-", a git URL or an http(s) URL)`);
  // `-f -`: the Dockerfile comes from stdin; .dockerignore is then read from the context only.
  // A remote context's -f names a file inside it; a Dockerfile-only input (stdin, URL) is the Dockerfile.
  const fromStdin = args.file === '-';
  const dockerfilePath = args.file !== undefined && !fromStdin ? (remote ? join(contextDir, args.file) : resolve(args.file)) : join(contextDir, 'Dockerfile');
  if (remote && args.file !== undefined && !fromStdin && relative(contextDir, dockerfilePath).startsWith('..')) {
    throw new UsageError(`-f ${args.file}: the Dockerfile of a ${remote.describe} context must be inside it`);
  }
  let dockerfileText: string;
  try {
    dockerfileText = fromStdin ? await readStdin() : remote?.dockerfileText !== undefined && args.file === undefined ? remote.dockerfileText : await readFile(dockerfilePath, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const shown = args.file ?? join(args.context, 'Dockerfile');
    throw new ContextError('DOCKERFILE_NOT_FOUND', e.code === 'ENOENT' ? `cannot read Dockerfile "${shown}": no such file` : `cannot read Dockerfile "${shown}": ${e.message}`, {
      hint: e.code === 'ENOENT' ? 'name another file with -f PATH' : undefined,
    });
  }
  // Docker: <Dockerfile>.dockerignore next to the Dockerfile wins over CONTEXT/.dockerignore.
  let ignoreText: string | undefined;
  let ignoreFile = '';
  const ignoreInputs: MemoInput[] = [];
  for (const p of [join(dirname(dockerfilePath), basename(dockerfilePath) + '.dockerignore'), join(contextDir, '.dockerignore')]) {
    try {
      ignoreText = await readFile(p, 'utf8');
      ignoreFile = relative(process.cwd(), p) || p;
      ignoreInputs.push({ path: p, sha256: sha256Text(ignoreText) });
      break;
    } catch (err) {
      ignoreInputs.push({ path: p, sha256: null });
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new ContextError('DOCKERIGNORE_UNREADABLE', `cannot read ${p}: ${(err as Error).message}`);
    }
  }
  const excludePatterns = ignoreText !== undefined ? readDockerignore(ignoreText, ignoreFile) : [];
  return { contextDir, dockerfilePath, dockerfileText, excludePatterns, ignoreInputs };
}

/** Add the offending Dockerfile line (and a column: its first non-blank) to a step error, for the printer. */
function withLineText(err: unknown, text: string): unknown {
  const loc = err instanceof TsbuildError ? err.location : undefined;
  if (loc && loc.lineText === undefined) {
    const line = text.replace(/^\uFEFF/, '').split(/\r?\n/)[loc.line - 1];
    if (line !== undefined) {
      (loc as { lineText?: string }).lineText = line;
      if (loc.column === undefined) (loc as { column?: number }).column = (/\S/.exec(line)?.index ?? 0) + 1;
    }
  }
  return err;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export { familiarName };
export type { ProgressSink };
