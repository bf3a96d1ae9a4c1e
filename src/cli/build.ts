/**
 * The one composition root: reads the Dockerfile and context, runs the frontend, the solver and the
 * exporters, wiring the stores together. Nothing else imports frontend/, solver/ and exporters/ together.
 */
import { readFile, stat } from 'node:fs/promises';
import { resolve, relative, dirname, basename, join } from 'node:path';
import { parseBuildArgs, type BuildArgs } from './args.js';
import { storeRoot, storeLayout, ensureStore } from './store-root.js';
import { hostPlatform } from './platform.js';
import { selectRenderer } from './render/select.js';
import { ContextError, NotFoundError, TsbuildError } from '../errors.js';
import { readDockerignore } from '../context/dockerignore.js';
import { normalizeReference, familiarName } from '../image/reference.js';
import type { ImageConfig, Manifest } from '../image/types.js';
import { LocalContentStore } from '../content/store.js';
import { LocalImageStore } from '../imagestore/store.js';
import { OverlaySnapshotter } from '../snapshot/overlay.js';
import { RuncExecutor } from '../executor/runc.js';
import { beginBuild } from './recover.js';
import { dockerfileToDefinition } from '../../frontend/index.js';
import { solve } from '../../solver/index.js';
import { writeImage } from '../../exporters/manifest.js';
import { ImageStoreExporter } from '../../exporters/image.js';
import { OciTarExporter } from '../../exporters/oci.js';
import type { Exporter } from '../../exporters/types.js';
import type { ProgressSink } from '../progress/types.js';

export async function buildCommand(argv: string[]): Promise<number> {
  const args = parseBuildArgs(argv);
  const progress = selectRenderer(args.progress);
  const { contextDir, dockerfilePath, dockerfileText, excludePatterns } = await readInputs(args);
  const store = storeLayout(storeRoot(args.root));
  await ensureStore(store);
  const content = new LocalContentStore(store.content);
  const images = new LocalImageStore(store.images);
  const snapshotter = new OverlaySnapshotter(store.snapshots);
  const execState = join(store.state, 'exec');
  const mountsDir = join(store.state, 'mounts');
  const runtime = process.env.TSBUILD_RUNTIME;
  const displayFile = relative(process.cwd(), dockerfilePath) || basename(dockerfilePath);

  const { definition, warnings } = await dockerfileToDefinition({
    dockerfile: dockerfileText,
    dockerfilePath: displayFile,
    excludePatterns,
    buildArgs: args.buildArgs,
    ...(args.target !== undefined ? { target: args.target } : {}),
    platform: hostPlatform(),
    resolveImage: async (ref) => {
      const name = normalizeReference(ref);
      const rec = await images.get(name);
      if (!rec) {
        throw new NotFoundError('IMAGE_NOT_FOUND', `${name} is not in the local image store`, {
          hint: 'build or load it first (`tsbuild images` lists what the store has)',
        });
      }
      const manifest = JSON.parse((await content.read(rec.target.digest)).toString()) as Manifest;
      const config = JSON.parse((await content.read(manifest.config.digest)).toString()) as ImageConfig;
      return { ref: name, digest: rec.target.digest, config };
    },
  });
  for (const w of warnings) progress.emit({ type: 'warning', message: w.message, file: w.file, ...(w.line !== undefined ? { line: w.line } : {}) });
  if (args.printDefinition) {
    progress.close();
    process.stdout.write(JSON.stringify(definition, null, 2) + '\n');
    return 0;
  }

  const exporters = makeExporters(args);
  // What a killed build left behind goes first; see recover.ts.
  const endBuild = await beginBuild({ content, snapshotter, stateDir: store.state, execStateDir: execState, mountsDir, ...(runtime ? { runtime } : {}) });
  const controller = new AbortController();
  const onSignal = () => controller.abort(new TsbuildError('INTERRUPTED', 'build interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const started = Date.now();
  try {
    const result = await solve(definition, {
      content,
      snapshotter,
      executor: new RuncExecutor({ stateDir: execState, ...(runtime ? { runtime } : {}) }),
      images,
      cacheDir: store.cache,
      stateDir: mountsDir,
      locals: { context: contextDir },
      progress,
      signal: controller.signal,
      noCache: args.noCache,
    }).catch((err) => {
      throw withLineText(err, dockerfileText);
    });
    const t0 = Date.now();
    progress.emit({ type: 'vertex.started', id: 'export', name: 'exporting to image', at: t0 });
    const blobs = await writeImage(result, content);
    const ctx = { content, images, progress, signal: controller.signal };
    const messages: string[] = [];
    for (const e of exporters) messages.push((await e.export(result, blobs, ctx)).message);
    progress.emit({ type: 'vertex.done', id: 'export', name: 'exporting to image', at: Date.now(), durationMs: Date.now() - t0 });
    progress.emit({ type: 'info', message: `writing image ${blobs.manifest.digest}${messages.length ? `; ${messages.join('; ')}` : ''}` });
    progress.emit({ type: 'info', message: `build finished in ${((Date.now() - started) / 1000).toFixed(2)}s` });
    return 0;
  } finally {
    progress.close();
    await endBuild();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function makeExporters(args: BuildArgs): Exporter[] {
  const names = args.tags.map((t) => normalizeReference(t));
  const out: Exporter[] = [];
  const wantsImage = args.outputs.length === 0 ? names.length > 0 : args.outputs.some((o) => o.type === 'image');
  if (wantsImage) {
    const extra = args.outputs.filter((o) => o.type === 'image' && o.name).flatMap((o) => o.name!.split(',').map((n) => normalizeReference(n)));
    const all = [...new Set([...names, ...extra])];
    if (all.length === 0) throw new TsbuildError('USAGE', 'type=image output needs a name: use -t NAME or name=NAME');
    out.push(new ImageStoreExporter(all));
  }
  for (const o of args.outputs) {
    if (o.type === 'oci') out.push(new OciTarExporter(o.dest!, o.name ? normalizeReference(o.name) : names[0]));
  }
  return out;
}

async function readInputs(args: BuildArgs) {
  const contextDir = resolve(args.context);
  const st = await stat(contextDir).catch(() => undefined);
  if (!st) throw new ContextError('CONTEXT_NOT_FOUND', `build context "${args.context}" does not exist`);
  if (!st.isDirectory()) throw new ContextError('CONTEXT_NOT_DIR', `build context "${args.context}" is not a directory`);
  const dockerfilePath = args.file !== undefined ? resolve(args.file) : join(contextDir, 'Dockerfile');
  let dockerfileText: string;
  try {
    dockerfileText = await readFile(dockerfilePath, 'utf8');
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
  for (const p of [join(dirname(dockerfilePath), basename(dockerfilePath) + '.dockerignore'), join(contextDir, '.dockerignore')]) {
    try {
      ignoreText = await readFile(p, 'utf8');
      ignoreFile = relative(process.cwd(), p) || p;
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new ContextError('DOCKERIGNORE_UNREADABLE', `cannot read ${p}: ${(err as Error).message}`);
    }
  }
  const excludePatterns = ignoreText !== undefined ? readDockerignore(ignoreText, ignoreFile) : [];
  return { contextDir, dockerfilePath, dockerfileText, excludePatterns };
}

/** Add the offending Dockerfile line to a step error, for the printer. */
function withLineText(err: unknown, text: string): unknown {
  const loc = err instanceof TsbuildError ? err.location : undefined;
  if (loc && loc.lineText === undefined) {
    const line = text.replace(/^\uFEFF/, '').split(/\r?\n/)[loc.line - 1];
    if (line !== undefined) (loc as { lineText?: string }).lineText = line;
  }
  return err;
}

export { familiarName };
export type { ProgressSink };
