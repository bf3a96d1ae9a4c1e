/**
 * RUN --mount specs → the executor's SandboxMounts, with everything they need prepared on the host
 * (snapshot views, context copies, cache dirs, secret values, SSH agent proxies) and a cleanup that
 * undoes it all. Secret values only ever go to the executor (which keeps them off the store).
 */
import { lstat, mkdir, mkdtemp, readdir, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { TsbuildError } from '../../../src/errors.js';
import { copyFiles } from '../../../src/copy/copy.js';
import type { ResourceLimits, SandboxMount } from '../../../src/executor/types.js';
import { resolveInRoot, resolveInRootSync } from '../../../src/fsutil/scoped.js';
import type { ExecMount, ExecOp } from '../../../src/llb/types.js';
import { mountAll } from '../../../src/snapshot/mount.js';
import { unmountAll } from '../../../src/executor/mountpoint.js';
import type { Snapshotter } from '../../../src/snapshot/types.js';
import type { ResolvedInput, RunContext } from '../../types.js';
import { acquireCacheMount } from './cache-mounts.js';
import { tempKey } from '../commit.js';
import { localMatcher, localRoot, localSourceOf } from '../local/checksum.js';
import { startSshProxy } from './ssh-proxy.js';

/** What RUN steps get from the build's options (flags of `tsbuild build`). */
export interface ExecSandboxOptions {
  limits?: ResourceLimits;
  /** Secret id → value (`--secret`). Never logged, cached or written to the store. */
  secrets?: Record<string, Buffer>;
  /** SSH id → host path of an agent socket (`--ssh`). */
  ssh?: Record<string, string>;
  /** `<store>/cachemounts`: where type=cache mounts live. */
  cacheMountsDir?: string;
}

export interface PreparedMounts {
  mounts: SandboxMount[];
  secretEnv: string[];
  env: string[];
  cleanup(): Promise<void>;
}

interface Deps {
  snapshotter: Snapshotter;
  locals: Record<string, string>;
  stateDir: string;
  sandbox?: ExecSandboxOptions;
}

export async function prepareMounts(ctx: RunContext, op: ExecOp, deps: Deps): Promise<PreparedMounts> {
  const out: PreparedMounts = { mounts: [], secretEnv: [], env: [], cleanup: async () => {} };
  const undo: (() => Promise<unknown>)[] = [];
  out.cleanup = async () => {
    for (const fn of undo.reverse()) await fn().catch(() => {});
  };
  try {
    for (const m of op.mounts ?? []) await prepareOne(ctx, m, deps, out, undo);
  } catch (err) {
    await out.cleanup();
    throw err;
  }
  return out;
}

async function prepareOne(ctx: RunContext, m: ExecMount, deps: Deps, out: PreparedMounts, undo: (() => Promise<unknown>)[]): Promise<void> {
  switch (m.type) {
    case 'tmpfs':
      out.mounts.push({ type: 'tmpfs', destination: m.target, ...(m.size !== undefined ? { sizeBytes: m.size } : {}) });
      return;
    case 'secret': {
      const value = deps.sandbox?.secrets?.[m.id];
      if (value === undefined) {
        if (m.required) throw new TsbuildError('SECRET_NOT_FOUND', `secret ${m.id} not found`, { hint: `pass it with --secret id=${m.id},src=FILE or --secret id=${m.id},env=VAR` });
        return;
      }
      if (m.env) out.secretEnv.push(`${m.env}=${value.toString('utf8')}`);
      if (m.target) out.mounts.push({ type: 'secret', destination: m.target, data: value, mode: m.mode, uid: m.uid, gid: m.gid });
      return;
    }
    case 'ssh': {
      const agent = deps.sandbox?.ssh?.[m.id];
      if (agent === undefined) {
        if (m.required) throw new TsbuildError('SSH_NOT_FOUND', `no SSH agent or key was given for ssh id ${m.id}`, { hint: `pass one with --ssh ${m.id}[=PATH]` });
        return;
      }
      const proxy = await startSshProxy(deps.stateDir, agent, m.mode, m.uid, m.gid);
      undo.push(() => proxy.close());
      out.mounts.push({ type: 'bind', source: proxy.socket, destination: m.target, readonly: false });
      out.env.push(`SSH_AUTH_SOCK=${m.target}`);
      return;
    }
    case 'bind': {
      const source = await inputDir(ctx, m.input, m.source, !m.readonly, deps, undo);
      out.mounts.push({ type: 'bind', source, destination: m.target, readonly: m.readonly });
      return;
    }
    case 'cache': {
      const root = deps.sandbox?.cacheMountsDir;
      if (!root) throw new TsbuildError('INTERNAL', 'cache mounts need the solver option sandbox.cacheMountsDir');
      const input = m.input;
      const seed =
        input === undefined
          ? undefined
          : async (dir: string) => {
              const local: (() => Promise<unknown>)[] = [];
              try {
                const src = await inputDir(ctx, input, m.source ?? '.', false, deps, local);
                await copyFiles({ srcRoot: src, destRoot: dir, src: ['.'], dest: '/', allowWildcard: false, followSymlinks: false, preserveOwnership: true });
              } finally {
                for (const fn of local.reverse()) await fn().catch(() => {});
              }
            };
      const acquired = await acquireCacheMount(root, m, seed);
      undo.push(async () => acquired.release());
      out.mounts.push({ type: 'bind', source: acquired.dir, destination: m.target, readonly: m.readonly });
      return;
    }
  }
}

/**
 * A host path holding `source` of input `index`: a snapshot view (a writable throwaway snapshot when
 * `writable`), a filtered copy of the context (.dockerignore applies), or an empty dir for scratch.
 */
async function inputDir(ctx: RunContext, index: number, source: string, writable: boolean, deps: Deps, undo: (() => Promise<unknown>)[]): Promise<string> {
  const input: ResolvedInput | undefined = ctx.inputs[index];
  if (!input || index === 0) throw new TsbuildError('INVALID_DEFINITION', `invalid build definition: mount from missing input ${index}`);
  await mkdir(deps.stateDir, { recursive: true });
  const local = localSourceOf(input.vertex.op);
  if (local) {
    const dir = await mkdtemp(join(deps.stateDir, `ctx-${process.pid}-`));
    undo.push(() => rm(dir, { recursive: true, force: true }));
    const root = localRoot(deps.locals, local);
    const exclude = localMatcher(local);
    // As BuildKit: the source resolves inside the context (a symlink, absolute or climbing, never leaves
    // it) and what it names is copied; runc must never get a symlink as a mount source (it follows it on
    // the host).
    await copyFiles({ srcRoot: root, destRoot: dir, src: [source], dest: '/', allowWildcard: false, followSymlinks: true, preserveOwnership: false, ...(exclude ? { exclude } : {}) }).catch((err) => {
      throw mountSourceError(source, err);
    });
    return plainMountSource(root, dir, source);
  }
  const mp = await mkdtemp(join(deps.stateDir, `bind-${process.pid}-`));
  undo.push(() => rmdir(mp));
  if (input.snapshot === null) return mp;
  const key = tempKey(`mount:${index}`);
  const mounts = writable ? await deps.snapshotter.prepare(key, input.snapshot) : await deps.snapshotter.view(key, input.snapshot);
  undo.push(() => deps.snapshotter.remove(key));
  undo.push(() => unmountAll(mp));
  await mountAll(mounts, mp);
  const path = await resolveInRoot(mp, source);
  const st = await lstat(path).catch(() => undefined);
  if (!st || st.isSymbolicLink()) {
    throw new TsbuildError('MOUNT_SOURCE_NOT_FOUND', `RUN --mount source ${JSON.stringify(source)} does not exist in ${input.vertex.metadata.stage !== undefined ? `stage ${input.vertex.metadata.stage}` : 'its image'}`);
  }
  return path;
}

/**
 * The host path to bind for context source `source` (resolved in `root`) copied into `dir`: `dir` itself
 * for a directory, else the one file the copy made. Never a symlink, never a path outside `dir`.
 */
async function plainMountSource(root: string, dir: string, source: string): Promise<string> {
  if ((await lstat(resolveInRootSync(root, source)).catch(() => undefined))?.isDirectory()) return dir;
  const names = await readdir(dir);
  const file = names.length === 1 ? join(dir, names[0]!) : undefined;
  if (!file || (await lstat(file)).isSymbolicLink()) {
    throw new TsbuildError('MOUNT_SOURCE_NOT_FOUND', `RUN --mount source ${JSON.stringify(source)} is not a file or directory inside the build context`);
  }
  return file;
}

/**
 * A context source that is missing (or a symlink whose target, resolved inside the context, is missing):
 * said as a mount error, never with a temp copy's path.
 */
export function mountSourceError(source: string, err: unknown): unknown {
  if ((err as { code?: string }).code !== 'COPY_SOURCE_NOT_FOUND') return err;
  return new TsbuildError('MOUNT_SOURCE_NOT_FOUND', `RUN --mount source ${JSON.stringify(source)}: not found in build context`, {
    cause: err,
    hint: 'check the path; it is relative to the root of the build context, and a symlink there is followed inside the context',
  });
}
