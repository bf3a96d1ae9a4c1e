/**
 * The git source (ADD <git url>): keyed by the commit its ref resolves to (src/git/repo.ts, `git ls-remote`;
 * a full commit id needs no network), the subdirectory and --keep-git-dir; its run checks that commit out
 * shallowly into a fresh snapshot (the subdirectory's contents only, when one is named), files owned by 0:0.
 * Map history: v1 — commit, subdir, keepGitDir.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, realpath, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ContextError, TsbuildError } from '../../../src/errors.js';
import { checkoutGit, resolveGitCommit } from '../../../src/git/repo.js';
import { commitSnapshot, keyHex, tempKey } from '../commit.js';
import type { OpModule, StoredMap } from '../op.js';
import { missingFact, notARootfs, short } from '../reasons.js';

export const GIT_TAG = 'tsbuild.source.git.v1';

export type GitCacheMap = { tag: typeof GIT_TAG; commit: string; subdir: string; keepGitDir: boolean };

const run = promisify(execFile);
const shown = (s: { remote: string; ref?: string }) => `${s.remote}${s.ref !== undefined ? `#${s.ref}` : ''}`;
const failed = (s: { remote: string; ref?: string }, err: unknown): TsbuildError =>
  err instanceof TsbuildError ? err : new ContextError('GIT_FETCH_FAILED', `cannot fetch ${shown(s)}: ${(err as Error).message}`, { cause: err });

export const gitOp: OpModule<'git', GitCacheMap> = {
  kind: 'git',
  tag: GIT_TAG,
  output: 'base',
  baseLayers: (op) => notARootfs(`git source "${op.source.remote}"`),
  trivial: false,
  cacheMap(op, _inputs, facts) {
    if (!facts.gitCommit) throw missingFact(`commit of ${shown(op.source)}`);
    return { tag: GIT_TAG, commit: facts.gitCommit, subdir: op.source.subdir ?? '', keepGitDir: op.source.keepGitDir };
  },
  readMap: (s: StoredMap) =>
    s.tag === GIT_TAG && typeof s.commit === 'string' && typeof s.subdir === 'string' && typeof s.keepGitDir === 'boolean' ? (s as unknown as GitCacheMap) : undefined,
  explain: (a, b) => [
    ...(a.commit === b.commit ? [] : [`git commit changed: ${short(a.commit)} → ${short(b.commit)}`]),
    ...(a.subdir === b.subdir ? [] : [`subdirectory changed: ${a.subdir || '/'} → ${b.subdir || '/'}`]),
    ...(a.keepGitDir === b.keepGitDir ? [] : [`--keep-git-dir changed: ${a.keepGitDir} → ${b.keepGitDir}`]),
  ],
  async keyFacts(op, { vertex, signal }, env) {
    const commit = await env.once(`git:${vertex.digest}`, () => resolveGitCommit(op.source.remote, op.source.ref, signal).catch((err) => {
      throw failed(op.source, err);
    }));
    return { gitCommit: commit };
  },
  async run(op, ctx, env) {
    const { snapshotter } = env.deps;
    const commit = ctx.facts.gitCommit;
    const work = await realpath(await mkdtemp(join(tmpdir(), 'tsbuild-git-')));
    const active = tempKey(`git:${keyHex(ctx.key).slice(0, 16)}`);
    try {
      await checkoutGit(op.source.remote, op.source.ref, commit, work, { keepGitDir: op.source.keepGitDir, signal: ctx.signal }).catch((err) => {
        throw failed(op.source, err);
      });
      // The subdirectory's contents (`..` was refused when the URL was read); never through a symlink.
      const from = op.source.subdir ? join(work, op.source.subdir) : work;
      const st = await stat(from).catch(() => undefined);
      if (!st?.isDirectory() || (await realpath(from)) !== from) {
        throw new ContextError('GIT_FETCH_FAILED', `${shown(op.source)}: the repository has no directory "${op.source.subdir}"`);
      }
      await run('chown', ['-R', '-h', '0:0', '--', from]);
      await snapshotter.prepare(active, undefined);
      const dir = await snapshotter.layerDir(active);
      await run('cp', ['-a', '--', `${from}/.`, dir]);
      return { snapshot: await commitSnapshot(snapshotter, `op:${keyHex(ctx.key)}`, active, ctx.noCache) };
    } catch (err) {
      await snapshotter.remove(active).catch(() => {});
      throw err;
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  },
};
