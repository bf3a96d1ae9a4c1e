/**
 * file op: copy and mkdir actions applied on a writable snapshot of the destination parent, then committed.
 * Copy sources are a local directory (read with the local source's .dockerignore patterns; ownership not
 * preserved) or another op's snapshot, mounted read-only (ownership preserved unless --chown).
 */
import { chmod, lchown, lstat, mkdir, mkdtemp, rm, rmdir, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { ContextError, NotFoundError, TsbuildError } from '../../../src/errors.js';
import { copyFiles, mkdirAllInRoot, type CopyReuse } from '../../../src/copy/copy.js';
import type { SourceSelection } from '../../../src/context/select.js';
import { parseModeSpec } from '../../../src/copy/chmod.js';
import { resolveUser } from '../../../src/fsutil/passwd.js';
import { resolveInRoot } from '../../../src/fsutil/scoped.js';
import type { Chown, CopyAction, FileOp, MkdirAction, MkfileAction } from '../../../src/llb/types.js';
import { withMounts } from '../../../src/snapshot/mount.js';
import { startHelper } from '../../../src/proc/helper.js';
import type { Snapshotter } from '../../../src/snapshot/types.js';
import type { OpOutput, ResolvedInput, RunContext } from '../../types.js';
import { commitSnapshot, keyHex, tempKey } from '../commit.js';
import { localMatcher, localRoot, localSourceOf } from '../local/checksum.js';
import { copyIncrementally, reuseCandidate } from './copy-reuse.js';

export interface FileOpDeps {
  snapshotter: Snapshotter;
  locals: Record<string, string>;
  /** Scratch dir for temporary mount points. */
  stateDir: string;
}

export async function runFile(ctx: RunContext, deps: FileOpDeps): Promise<OpOutput> {
  const op = ctx.vertex.op as FileOp;
  const { snapshotter } = deps;
  startHelper(); // every file op mounts: the helper starts while the snapshot is prepared
  const parent = ctx.inputs[0]?.snapshot ?? undefined;
  const active = tempKey(`file:${keyHex(ctx.key).slice(0, 16)}`);
  const mounts = await snapshotter.prepare(active, parent);
  try {
    const mounted = <T>(fn: (rootfs: string) => Promise<T>): Promise<T> => withTempDir(deps.stateDir, 'dest-', (target) => withMounts(mounts, target, fn));
    const apply = async (rootfs: string, reuse?: CopyReuse): Promise<void> => {
      for (const [i, action] of op.actions.entries()) {
        if (ctx.signal.aborted) throw ctx.signal.reason ?? new TsbuildError('CANCELED', 'build canceled');
        if (action.action === 'copy') await copyAction(action, rootfs, ctx.inputs, deps, { selection: ctx.facts.localSelections?.[i], reuse });
        else if (action.action === 'mkfile') await mkfileAction(action, rootfs);
        else await mkdirAction(action, rootfs);
      }
    };
    const candidate = await reuseCandidate(ctx, snapshotter).catch(() => undefined);
    const kept = candidate ? await copyIncrementally(candidate, await snapshotter.layerDir(active), mounted, apply) : undefined;
    if (kept === undefined) await mounted((rootfs) => apply(rootfs));
    return { snapshot: await commitSnapshot(snapshotter, `op:${keyHex(ctx.key)}`, active, ctx.noCache) };
  } catch (err) {
    await snapshotter.remove(active).catch(() => {});
    throw err;
  }
}

/** `local.selection`: the selection the key was computed from (saves a walk); `local.reuse`: incremental COPY hooks. */
async function copyAction(
  action: CopyAction,
  rootfs: string,
  inputs: ResolvedInput[],
  deps: FileOpDeps,
  local: { selection?: SourceSelection[] | undefined; reuse?: CopyReuse | undefined } = {},
): Promise<void> {
  const input = inputs[action.sourceInput];
  if (!input) throw new TsbuildError('INVALID_DEFINITION', `invalid build definition: copy from missing input ${action.sourceInput}`);
  const chown = action.chown ? await resolveChown(rootfs, action.chown) : undefined;
  const common = {
    destRoot: rootfs,
    src: action.src,
    dest: action.dest,
    allowWildcard: action.allowWildcard,
    followSymlinks: action.followSymlinks,
    ...(chown ? { chown } : {}),
    ...(action.chmod !== undefined ? { chmod: parseModeSpec(action.chmod) } : {}),
    ...(action.exclude && action.exclude.length > 0 ? { excludePatterns: action.exclude } : {}),
    ...(action.parents ? { parents: true } : {}),
    ...(action.unpack ? { unpack: true } : {}),
  };
  const source = localSourceOf(input.vertex.op);
  if (source) {
    const exclude = localMatcher(source);
    await copyFiles({
      ...common,
      srcRoot: localRoot(deps.locals, source),
      ...(exclude ? { exclude } : {}),
      ...(local.selection ? { selection: local.selection } : {}),
      ...(local.reuse ? { reuse: local.reuse } : {}),
      preserveOwnership: false,
    });
    return;
  }
  const rootName = input.vertex.metadata.stage !== undefined ? `stage ${input.vertex.metadata.stage}` : 'source image';
  if (action.sourceInput === 0) {
    await copyFiles({ ...common, srcRoot: rootfs, preserveOwnership: true, rootName });
    return;
  }
  if (input.snapshot === null) {
    // An empty filesystem (scratch): every source is missing, and copyFiles says so.
    await withTempDir(deps.stateDir, 'empty-', (empty) => copyFiles({ ...common, srcRoot: empty, preserveOwnership: true, rootName }));
    return;
  }
  const view = tempKey('view');
  const viewMounts = await deps.snapshotter.view(view, input.snapshot);
  try {
    await withTempDir(deps.stateDir, 'src-', (target) =>
      withMounts(viewMounts, target, (srcRoot) => copyFiles({ ...common, srcRoot, preserveOwnership: true, rootName })),
    );
  } finally {
    await deps.snapshotter.remove(view).catch(() => {});
  }
}

/** --chown: numeric user without group → same gid (BuildKit); names are looked up in the destination rootfs. */
async function resolveChown(rootfs: string, c: Chown): Promise<{ uid: number; gid: number }> {
  const numeric = /^\d+$/;
  if (numeric.test(c.user) && (c.group === undefined || numeric.test(c.group))) {
    const uid = Number(c.user);
    return { uid, gid: c.group === undefined ? uid : Number(c.group) };
  }
  const u = await resolveUser(rootfs, c.user, c.group);
  return { uid: u.uid, gid: u.gid };
}

/** Write one file (COPY heredoc); parents are created root-owned 0755; an existing file is replaced. */
async function mkfileAction(action: MkfileAction, rootfs: string): Promise<void> {
  const owner = action.chown ? await resolveChown(rootfs, action.chown) : { uid: 0, gid: 0 };
  const path = posix.normalize(`/${action.path}`);
  mkdirAllInRoot(rootfs, posix.dirname(path), { uid: 0, gid: 0 });
  const host = await resolveInRoot(rootfs, path, { followFinal: false });
  const st = await lstat(host).catch(() => undefined);
  if (st?.isDirectory()) throw new ContextError('MKFILE_IS_DIR', `cannot create file ${path}: a directory is in the way`);
  if (st) await rm(host);
  await writeFile(host, action.data, { flag: 'wx', mode: 0o600 });
  await lchown(host, owner.uid, owner.gid);
  await chmod(host, action.mode & 0o7777);
}

async function mkdirAction(action: MkdirAction, rootfs: string): Promise<void> {
  // As BuildKit v0.13: WORKDIR under a USER the image's passwd/group files do not know makes a root-owned dir.
  const owner = action.chown ? await resolveChown(rootfs, action.chown).catch((err: unknown) => (err instanceof NotFoundError ? { uid: 0, gid: 0 } : Promise.reject(err))) : { uid: 0, gid: 0 };
  const path = posix.normalize(`/${action.path}`);
  const parentPath = posix.dirname(path);
  if (action.makeParents) mkdirAllInRoot(rootfs, parentPath, owner);
  const host = await resolveInRoot(rootfs, path);
  const st = await lstat(host).catch(() => undefined);
  if (st) {
    if (st.isDirectory()) return;
    throw new ContextError('MKDIR_NOT_DIR', `cannot create directory ${path}: a file is in the way`);
  }
  try {
    await mkdir(host);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new ContextError('MKDIR_NO_PARENT', `cannot create directory ${path}: ${parentPath} does not exist`, { cause: err });
    }
    throw err;
  }
  await lchown(host, owner.uid, owner.gid);
  await chmod(host, action.mode & 0o7777);
}

/**
 * An empty temp dir (a mount point) under stateDir for the duration of fn. Its name carries our pid
 * (`<prefix><pid>-XXXXXX`) so that a later build can tell a dead build's leftover mount from a live one.
 */
async function withTempDir<T>(stateDir: string, prefix: string, fn: (dir: string) => Promise<T>): Promise<T> {
  await mkdir(stateDir, { recursive: true });
  const dir = await mkdtemp(join(stateDir, `${prefix}${process.pid}-`));
  try {
    return await fn(dir);
  } finally {
    // rmdir, never rm -r: if an unmount failed, the dir still shows a snapshot that must not be emptied.
    await rmdir(dir).catch(() => {});
  }
}
