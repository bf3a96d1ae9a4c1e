/**
 * Git repositories through the system `git` (Debian package git): a git build context (src/cli/remote-context.ts)
 * and `ADD <git url>` (solver/ops/git/). `URL#REF:SUBDIR` is read as buildx/BuildKit read it; a ref resolves to
 * its commit with `git ls-remote` (no clone needed to know a cache key); a checkout is shallow, with submodules,
 * and without its .git directory unless asked.
 */
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ContextError } from '../errors.js';

export interface GitUrl {
  remote: string;
  ref?: string;
  subdir?: string;
}

const COMMIT = /^[0-9a-f]{40}$/;

/** `URL#REF:SUBDIR` (ref and subdir optional). A subdirectory with `..` is refused (`what` names the input). */
export function parseGitUrl(text: string, what: string): GitUrl {
  let remote = text;
  let fragment = '';
  const hash = text.indexOf('#');
  if (hash >= 0) {
    remote = text.slice(0, hash);
    fragment = text.slice(hash + 1);
  }
  if (remote.startsWith('github.com/')) remote = `https://${remote}`;
  const colon = fragment.indexOf(':');
  const ref = colon >= 0 ? fragment.slice(0, colon) : fragment;
  const subdir = colon >= 0 ? fragment.slice(colon + 1) : '';
  const out: GitUrl = { remote };
  if (ref !== '') out.ref = ref;
  if (subdir !== '') {
    if (subdir.split('/').includes('..')) throw new ContextError('GIT_BAD_URL', `invalid ${what} "${text}": the subdirectory may not contain ".."`);
    out.subdir = subdir;
  }
  return out;
}

/** Run git; its last stderr lines become the error. */
export function git(args: string[], cwd: string, signal?: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('git', args, { cwd, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, GIT_TERMINAL_PROMPT: '0' }, ...(signal ? { signal } : {}) }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'ENOENT') return reject(new ContextError('GIT_NOT_FOUND', 'a git source needs the `git` command (Debian package git)'));
      reject(new Error(String(stderr).trim().split('\n').slice(-3).join('; ') || e.message));
    });
  });
}

/** The commit `ref` (default: the remote's HEAD) names now; a full commit id is its own answer. */
export async function resolveGitCommit(remote: string, ref: string | undefined, signal?: AbortSignal): Promise<string> {
  if (ref !== undefined && COMMIT.test(ref)) return ref;
  const want = ref ?? 'HEAD';
  const out = await git(['ls-remote', '--', remote, want], '/', signal);
  const rows = out.split('\n').filter(Boolean).map((l) => l.split('\t') as [string, string]);
  // As git: an exact name first, then a tag (its peeled commit), then a branch.
  const pick = (name: string) => rows.find((r) => r[1] === name)?.[0];
  const commit = pick(want) ?? pick(`refs/tags/${want}^{}`) ?? pick(`refs/tags/${want}`) ?? pick(`refs/heads/${want}`) ?? rows[0]?.[0];
  if (commit === undefined || !COMMIT.test(commit)) throw new Error(`${remote} has no ref "${want}"`);
  return commit;
}

/**
 * Check `commit` of `remote` out into the empty directory `dir` (fetched by `ref` shallowly when the server
 * allows, else everything), with submodules; .git is removed unless `keepGitDir`.
 */
export async function checkoutGit(remote: string, ref: string | undefined, commit: string | undefined, dir: string, opts: { keepGitDir?: boolean; signal?: AbortSignal } = {}): Promise<void> {
  const { signal } = opts;
  await git(['init', '-q'], dir, signal);
  await git(['remote', 'add', 'origin', remote], dir, signal);
  const byId = ref !== undefined && /^[0-9a-f]{7,40}$/.test(ref);
  let target = byId ? ref! : 'FETCH_HEAD';
  try {
    await git(['fetch', '-q', '--depth', '1', '--no-tags', 'origin', ref ?? 'HEAD'], dir, signal);
    // The ref moved since its commit was resolved: that commit is what the cache key names.
    if (commit !== undefined && (await git(['rev-parse', 'FETCH_HEAD'], dir, signal)).trim() !== commit) throw new Error('moved');
  } catch (err) {
    // A commit some servers refuse to serve shallowly by id: fetch everything, then look it up.
    if (commit === undefined && !byId) throw err;
    await git(['fetch', '-q', '--no-tags', 'origin'], dir, signal);
    target = commit ?? ref!;
  }
  if (commit !== undefined && target === 'FETCH_HEAD') target = commit;
  await git(['-c', 'advice.detachedHead=false', 'checkout', '-q', target], dir, signal);
  await git(['submodule', 'update', '-q', '--init', '--recursive', '--depth', '1'], dir, signal);
  if (!opts.keepGitDir) await rm(join(dir, '.git'), { recursive: true, force: true });
}
