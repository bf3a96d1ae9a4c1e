/**
 * `--build-context NAME=VALUE` (parsed in ./buildx-args.ts) made ready for the frontend and the solver, as
 * buildx does: a directory becomes a local source of its own (`context:NAME`, bound in the solver's
 * `locals`, filtered by the directory's own .dockerignore, keyed by content like the build context);
 * `docker-image://REF` is an image ref resolved like a FROM; `oci-layout://DIR[:TAG|@DIGEST]` is read into
 * the content store (src/imagestore/layout-dir.ts) and given to the frontend as an already resolved image.
 */
import { readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { ContentStore } from '../content/types.js';
import { readDockerignore } from '../context/dockerignore.js';
import { ContextError, UsageError } from '../errors.js';
import type { ImageConfig, Platform } from '../image/types.js';
import { formatPlatform } from '../image/platform.js';
import { readLayoutImage } from '../imagestore/layout-dir.js';
import type { BuildContext } from './buildx-args.js';
import { materializeContext } from './remote-context.js';

const cleanups: (() => Promise<void>)[] = [];

/** Remove the temp directories of git/URL named contexts (buildCommand calls it when the build ends). */
export async function cleanupNamedContexts(): Promise<void> {
  for (const c of cleanups.splice(0)) await c().catch(() => {});
}

/** The frontend's NamedContext (frontend/convert/input.ts; only build.ts may import the frontend). */
export type NamedContext = { kind: 'local'; source: string; excludePatterns: string[] } | { kind: 'image'; ref: string };

export interface NamedContexts {
  /** FrontendInput.namedContexts. */
  named: Record<string, NamedContext>;
  /** Local source name → host directory (added to SolveOptions.locals). */
  locals: Record<string, string>;
  /** oci-layout images by `<platform> <ref>` (the ref the frontend will ask resolveImage for). */
  resolved: Map<string, { ref: string; digest: string; config: ImageConfig }>;
}

export async function prepareNamedContexts(list: BuildContext[], deps: { content: ContentStore; platforms: Platform[] }): Promise<NamedContexts> {
  const out: NamedContexts = { named: {}, locals: {}, resolved: new Map() };
  for (const bc of list) {
    if (out.named[bc.name] !== undefined) throw new UsageError(`--build-context ${bc.name} is given twice`);
    if (bc.kind === 'image') {
      out.named[bc.name] = { kind: 'image', ref: bc.ref };
    } else if (bc.kind === 'local' || bc.kind === 'remote') {
      // A git repository or tarball becomes a temp directory for the length of the build, then is read as one.
      const remote = bc.kind === 'remote' ? await materializeContext(bc.url, { dockerfileFromStdin: false }) : undefined;
      if (remote) cleanups.push(remote.cleanup);
      const dir = remote ? remote.dir : resolve((bc as { path: string }).path);
      const st = await stat(dir).catch(() => undefined);
      if (!st?.isDirectory()) throw new ContextError('CONTEXT_NOT_FOUND', `--build-context ${bc.name}=${bc.kind === 'local' ? bc.path : bc.url}: ${st ? 'not a directory' : `no such directory (${dir})`}`);
      // As BuildKit: a named directory is filtered by its own .dockerignore, never the main context's.
      const ignoreFile = join(dir, '.dockerignore');
      const text = await readFile(ignoreFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return undefined;
        throw new ContextError('DOCKERIGNORE_UNREADABLE', `cannot read ${ignoreFile}: ${err.message}`);
      });
      const source = `context:${bc.name}`;
      out.locals[source] = dir;
      out.named[bc.name] = { kind: 'local', source, excludePatterns: text === undefined ? [] : readDockerignore(text, ignoreFile) };
    } else {
      const dir = resolve(bc.dir);
      const ref = `oci-layout://${dir}${bc.digest !== undefined ? `@${bc.digest}` : bc.tag !== undefined ? `:${bc.tag}` : ''}`;
      // An index in the layout gives each target platform its own manifest.
      for (const platform of deps.platforms) {
        const img = await readLayoutImage(dir, { ...(bc.tag !== undefined ? { tag: bc.tag } : {}), ...(bc.digest !== undefined ? { digest: bc.digest } : {}) }, deps.content, platform);
        out.resolved.set(`${formatPlatform(platform)} ${ref}`, { ref, digest: img.digest, config: img.config });
      }
      out.named[bc.name] = { kind: 'image', ref };
    }
  }
  return out;
}
