/**
 * Build contexts that are not a local directory, as `docker buildx build` takes them: `-` (stdin: a tar,
 * optionally gzip/bzip2/xz compressed, or a Dockerfile alone), a git repository (`https://host/repo.git#ref:subdir`,
 * `git@host:repo.git`, `git://…`, `ssh://…`; fetched with the system `git`, without its .git dir) and an
 * `http(s)://` URL of a tarball (or of a Dockerfile). Each becomes a private temp directory that the build
 * reads as it reads a local context, removed when the build ends. Tar entries are extracted with the same
 * safe extraction ADD uses (nothing escapes the directory).
 */
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, open, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ContextError, UsageError } from '../errors.js';
import { detectArchive } from '../archive/detect.js';
import { extractArchive } from '../archive/extract.js';
import { mkdirAllInRoot } from '../copy/copy.js';
import { isGitContext, isUrlContext } from './context-kind.js';
import { checkoutGit, parseGitUrl, type GitUrl } from '../git/repo.js';
import { trustDeferredCAs } from '../tls/deferred-ca.js';

const owner = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };

export interface MaterializedContext {
  /** The directory the build reads. */
  dir: string;
  /** When the input was a Dockerfile alone (stdin or URL): its text. */
  dockerfileText?: string;
  /** What the context is, for messages (e.g. "git https://host/repo.git#main"). */
  describe: string;
  cleanup(): Promise<void>;
}

/** A non-directory context made into a temp directory; undefined for a local directory context. */
export async function materializeContext(context: string, opts: { dockerfileFromStdin: boolean; signal?: AbortSignal }): Promise<MaterializedContext | undefined> {
  const stdin = context === '-';
  const git = !stdin && isGitContext(context);
  const url = !stdin && !git && isUrlContext(context);
  if (!stdin && !git && !url) return undefined;
  if (stdin && opts.dockerfileFromStdin) throw new UsageError('the context and the Dockerfile cannot both come from stdin (CONTEXT "-" with -f -)');
  const base = await mkdtemp(join(tmpdir(), 'tsbuild-context-'));
  const cleanup = () => rm(base, { recursive: true, force: true });
  try {
    if (git) return { ...(await gitContext(context, base)), cleanup };
    const download = join(base, 'input');
    if (stdin) await pipeline(process.stdin, createWriteStream(download));
    else await fetchUrl(context, download, opts.signal);
    const dir = join(base, 'context');
    await mkdir(dir);
    const compression = await detectArchive(download);
    const describe = stdin ? 'stdin' : context;
    if (compression !== null) {
      await extractArchive(download, compression, { root: dir, dir: '/', mkdirAll: (p) => mkdirAllInRoot(dir, p, owner) });
      return { dir, describe, cleanup };
    }
    // Not a tar: a Dockerfile alone (docker's `docker build - < Dockerfile`), with an empty context.
    const text = await readText(download);
    if (text === undefined) throw new ContextError('CONTEXT_INVALID', `build context from ${describe}: neither a tar archive (plain, gzip, bzip2 or xz) nor a Dockerfile`);
    return { dir, dockerfileText: text, describe, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

async function readText(file: string): Promise<string | undefined> {
  const fh = await open(file);
  try {
    const { size } = await fh.stat();
    if (size > 16 * 1024 * 1024) return undefined;
    const buf = Buffer.alloc(size);
    await fh.read(buf, 0, size, 0);
    return buf.includes(0) ? undefined : buf.toString('utf8');
  } finally {
    await fh.close();
  }
}

async function fetchUrl(url: string, dest: string, signal?: AbortSignal): Promise<void> {
  let res: Response;
  try {
    await trustDeferredCAs(); // NODE_EXTRA_CA_CERTS, deferred by bin/tsbuild
    res = await fetch(url, { redirect: 'follow', ...(signal ? { signal } : {}) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new ContextError('CONTEXT_DOWNLOAD_FAILED', `cannot download the build context ${url}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
  }
  if (!res.ok || !res.body) throw new ContextError('CONTEXT_DOWNLOAD_FAILED', `cannot download the build context ${url}: HTTP ${res.status} ${res.statusText}`);
  await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), createWriteStream(dest));
}

/** `URL#REF:SUBDIR` (ref and subdir optional), as buildx/BuildKit read a git context (src/git/repo.ts). */
export function parseGitContext(context: string): GitUrl {
  try {
    return parseGitUrl(context, 'git context');
  } catch (err) {
    throw err instanceof ContextError && err.code === 'GIT_BAD_URL' ? new UsageError(err.message) : err;
  }
}

/** Fetch one ref (default: the remote's HEAD) shallowly, check it out, drop .git. */
async function gitContext(context: string, base: string): Promise<Omit<MaterializedContext, 'cleanup'>> {
  const { remote, ref, subdir } = parseGitContext(context);
  const repo = join(base, 'repo');
  await mkdir(repo);
  const describe = `git ${remote}${ref ? `#${ref}` : ''}`;
  try {
    await checkoutGit(remote, ref, undefined, repo);
  } catch (err) {
    if (err instanceof ContextError) throw err;
    throw new ContextError('GIT_FETCH_FAILED', `cannot fetch the build context ${describe}: ${(err as Error).message}`);
  }
  const dir = subdir ? join(repo, subdir) : repo;
  const st = await stat(dir).catch(() => undefined);
  if (!st?.isDirectory()) throw new ContextError('CONTEXT_NOT_FOUND', `build context ${describe}: the repository has no directory "${subdir}"`);
  return { dir, describe: `${describe}${subdir ? `:${subdir}` : ''}` };
}
