/**
 * Build contexts that are not a local directory, as `docker buildx build` takes them: `-` (stdin: a tar,
 * optionally gzip/bzip2/xz compressed, or a Dockerfile alone), a git repository (`https://host/repo.git#ref:subdir`,
 * `git@host:repo.git`, `git://…`, `ssh://…`; fetched with the system `git`, without its .git dir) and an
 * `http(s)://` URL of a tarball (or of a Dockerfile). Each becomes a private temp directory that the build
 * reads as it reads a local context, removed when the build ends. Tar entries are extracted with the same
 * safe extraction ADD uses (nothing escapes the directory).
 */
import { execFile } from 'node:child_process';
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
    res = await fetch(url, { redirect: 'follow', ...(signal ? { signal } : {}) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new ContextError('CONTEXT_DOWNLOAD_FAILED', `cannot download the build context ${url}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
  }
  if (!res.ok || !res.body) throw new ContextError('CONTEXT_DOWNLOAD_FAILED', `cannot download the build context ${url}: HTTP ${res.status} ${res.statusText}`);
  await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream), createWriteStream(dest));
}

/** `URL#REF:SUBDIR` (ref and subdir optional), as buildx/BuildKit read a git context. */
export function parseGitContext(context: string): { remote: string; ref?: string; subdir?: string } {
  let remote = context;
  let fragment = '';
  const hash = context.indexOf('#');
  if (hash >= 0) {
    remote = context.slice(0, hash);
    fragment = context.slice(hash + 1);
  }
  if (remote.startsWith('github.com/')) remote = `https://${remote}`;
  const colon = fragment.indexOf(':');
  const ref = colon >= 0 ? fragment.slice(0, colon) : fragment;
  const subdir = colon >= 0 ? fragment.slice(colon + 1) : '';
  const out: { remote: string; ref?: string; subdir?: string } = { remote };
  if (ref !== '') out.ref = ref;
  if (subdir !== '') {
    if (subdir.split('/').includes('..')) throw new UsageError(`invalid git context "${context}": the subdirectory may not contain ".."`);
    out.subdir = subdir;
  }
  return out;
}

function git(args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('git', args, { cwd, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, GIT_TERMINAL_PROMPT: '0' } }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'ENOENT') return reject(new ContextError('GIT_NOT_FOUND', 'a git build context needs the `git` command (Debian package git)'));
      reject(new Error(String(stderr).trim().split('\n').slice(-3).join('; ') || e.message));
    });
  });
}

/** Fetch one ref (default: the remote's HEAD) shallowly, check it out, drop .git. */
async function gitContext(context: string, base: string): Promise<Omit<MaterializedContext, 'cleanup'>> {
  const { remote, ref, subdir } = parseGitContext(context);
  const repo = join(base, 'repo');
  await mkdir(repo);
  const describe = `git ${remote}${ref ? `#${ref}` : ''}`;
  try {
    await git(['init', '-q'], repo);
    await git(['remote', 'add', 'origin', remote], repo);
    try {
      await git(['fetch', '-q', '--depth', '1', '--no-tags', 'origin', ref ?? 'HEAD'], repo);
    } catch (err) {
      // A commit id some servers refuse to serve shallowly by name: fetch everything, then look it up.
      if (ref === undefined || !/^[0-9a-f]{7,40}$/.test(ref)) throw err;
      await git(['fetch', '-q', '--no-tags', 'origin'], repo);
    }
    await git(['-c', 'advice.detachedHead=false', 'checkout', '-q', ref !== undefined && /^[0-9a-f]{7,40}$/.test(ref) ? ref : 'FETCH_HEAD'], repo);
    await git(['submodule', 'update', '-q', '--init', '--recursive', '--depth', '1'], repo);
  } catch (err) {
    if (err instanceof ContextError) throw err;
    throw new ContextError('GIT_FETCH_FAILED', `cannot fetch the build context ${describe}: ${(err as Error).message}`);
  }
  await rm(join(repo, '.git'), { recursive: true, force: true });
  const dir = subdir ? join(repo, subdir) : repo;
  const st = await stat(dir).catch(() => undefined);
  if (!st?.isDirectory()) throw new ContextError('CONTEXT_NOT_FOUND', `build context ${describe}: the repository has no directory "${subdir}"`);
  return { dir, describe: `${describe}${subdir ? `:${subdir}` : ''}` };
}
