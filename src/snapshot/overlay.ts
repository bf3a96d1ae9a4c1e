import { pidAlive } from '../proc/alive.js';
import { inUserNamespace } from '../proc/userns.js';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { lstat, link, mkdir, open, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { inSlices } from '../fsutil/in-slices.js';
import { NotFoundError, StoreError } from '../errors.js';
import { fsyncDir, tempPathFor } from '../fsutil/atomic.js';
import type { Mount, SnapshotInfo, SnapshotKind, Snapshotter, Usage } from './types.js';

/** Label recording the pid of the process that created an active snapshot or view (see cleanup()). */
export const PID_LABEL = 'tsbuild.pid';
/**
 * Keep each upper dir a self-contained layer whatever the host's module defaults: no redirect xattrs for
 * renamed directories, no metadata-only copy-ups, and no inode index (which would tie a lower to one mount).
 */
const SAFE_OPTIONS = inUserNamespace()
  ? // Rootless: xattrs in user.overlay.*; userxattr refuses redirect_dir=off (which still follows redirects).
    ['index=off', 'redirect_dir=nofollow', 'metacopy=off', 'userxattr']
  : ['index=off', 'redirect_dir=off', 'metacopy=off'];
/** Mount option strings longer than this are refused: the kernel takes at most one page. */
const MAX_OPTIONS = 4000;

interface Meta {
  key: string;
  id: string;
  kind: SnapshotKind;
  parent?: string;
  created: string;
  labels?: Record<string, string>;
}

/**
 * Snapshotter on overlayfs. Layout under `root`:
 * - `<id>/fs`   the snapshot's own changes (overlay upper dir; its layer dir), `<id>/work` overlay's work dir;
 *   ids are 8 hex digits so that long lowerdir chains stay within the mount-option page;
 * - `meta/<sha256(key)>.json`  {key, id, kind, parent, created, labels}, created exclusively (link(2)) so
 *   two processes can never both create or commit the same key.
 * `commit(name, key)` throws StoreError code SNAPSHOT_EXISTS when `name` already exists (a concurrent build
 * committed the same result first); the caller may then remove its own active snapshot and use `name`.
 * `prepare`/`view` with an existing key throw the same code.
 * Durability: metadata files are fsynced before they are linked (never torn). An active snapshot or view is
 * garbage after a crash, so its directory entries need not be durable when prepare returns: their fsyncs
 * run while the step runs and commit awaits them before the committed metadata is written.
 */
export class OverlaySnapshotter implements Snapshotter {
  private readonly metaDir: string;
  /**
   * Metadata of committed snapshots read as parents (immutable while they exist; a build's snapshots are
   * not removed by another process while it runs): a step's lower chain costs no file reads.
   */
  private readonly parents = new Map<string, Meta>();
  /** Directory fsyncs of active snapshots, started by prepare, awaited by commit (by snapshot id). */
  private readonly dirsSynced = new Map<string, Promise<void>>();

  readonly root: string;
  private readonly beforeFirstDir: (() => Promise<void>) | undefined;
  private firstDir: Promise<void> | undefined;

  /**
   * `opts.beforeFirstDir` runs (once, awaited) before this snapshotter makes its first snapshot directory: the
   * build's spread hint (./spread.ts), which a build that makes none (every step a hit) never pays for.
   */
  constructor(root: string, opts: { beforeFirstDir?: () => Promise<void> } = {}) {
    // Absolute: the mount options it hands out are used from other working directories (runc, mount(8)).
    this.root = resolve(root);
    this.metaDir = join(this.root, 'meta');
    this.beforeFirstDir = opts.beforeFirstDir;
  }

  /** Resolves once `beforeFirstDir` has run (never rejects: a hint that fails leaves the dirs as they are). */
  private firstDirReady(): Promise<void> {
    return (this.firstDir ??= (this.beforeFirstDir?.() ?? Promise.resolve()).catch(() => {}));
  }

  async prepare(key: string, parent?: string, opts: { labels?: Record<string, string> } = {}): Promise<Mount[]> {
    return this.mountsOrUndo(await this.create(key, 'active', parent, opts.labels));
  }

  async view(key: string, parent?: string): Promise<Mount[]> {
    return this.mountsOrUndo(await this.create(key, 'view', parent, undefined));
  }

  async mounts(key: string): Promise<Mount[]> {
    return this.mountsFor(await this.need(key));
  }

  async commit(name: string, key: string, opts: { labels?: Record<string, string> } = {}): Promise<void> {
    const meta = await this.need(key);
    if (meta.kind !== 'active') {
      throw new StoreError('SNAPSHOT_NOT_ACTIVE', `cannot commit snapshot "${key}": it is a ${meta.kind} snapshot, not an active one`);
    }
    const committed: Meta = { key: name, id: meta.id, kind: 'committed', created: new Date().toISOString() };
    if (meta.parent !== undefined) committed.parent = meta.parent;
    if (opts.labels && Object.keys(opts.labels).length) committed.labels = { ...opts.labels };
    // The snapshot's directories are durable before metadata that names them as committed is (the
    // fsyncs were started by prepare and have long finished while the step ran).
    const synced = this.dirsSynced.get(meta.id) ?? this.syncDirs(meta.id);
    this.dirsSynced.delete(meta.id);
    await synced;
    await this.writeMetaExclusive(committed, false);
    await unlink(this.metaPath(key));
    await fsyncDir(this.metaDir); // the new name and the old one's removal together
    await rm(join(this.root, meta.id, 'work'), { recursive: true, force: true });
  }

  async remove(key: string): Promise<void> {
    const meta = await this.need(key);
    const all = await this.readAll();
    const child = all.find((m) => m.parent === key);
    if (child) {
      throw new StoreError('SNAPSHOT_IN_USE', `cannot remove snapshot "${key}": snapshot "${child.key}" is based on it`);
    }
    this.parents.delete(key);
    await this.dirsSynced.get(meta.id)?.catch(() => {});
    this.dirsSynced.delete(meta.id);
    await unlink(this.metaPath(key));
    await fsyncDir(this.metaDir);
    if (!all.some((m) => m.id === meta.id && m.key !== key)) await rm(join(this.root, meta.id), { recursive: true, force: true });
  }

  async stat(key: string): Promise<SnapshotInfo | undefined> {
    const meta = await this.readMeta(key);
    return meta && toInfo(meta);
  }

  /** Disk use of the snapshot's own layer dir, counted like du(1): allocated blocks, hard links once. */
  async usage(key: string): Promise<Usage> {
    const meta = await this.need(key);
    const seen = new Set<string>();
    const usage: Usage = { size: 0, inodes: 0 };
    const visit = async (p: string): Promise<void> => {
      const st = await lstat(p);
      const id = `${st.dev}:${st.ino}`;
      if (!seen.has(id)) {
        seen.add(id);
        usage.inodes++;
        usage.size += st.blocks * 512;
      }
      if (st.isDirectory()) for (const name of await readdir(p)) await visit(join(p, name));
    };
    await visit(join(this.root, meta.id, 'fs'));
    return usage;
  }

  async layerDir(key: string): Promise<string> {
    return join(this.root, (await this.need(key)).id, 'fs');
  }

  async refill(key: string, fill: (layerDir: string) => Promise<void>): Promise<boolean> {
    const meta = await this.need(key);
    if (meta.kind !== 'committed') throw new StoreError('SNAPSHOT_NOT_COMMITTED', `cannot refill snapshot "${key}": it is not committed`);
    const dir = join(this.root, meta.id);
    if ((await stat(join(dir, 'fs')).catch(() => undefined))?.isDirectory()) return false;
    // `.refill-<id>-<pid>-<hex>`: a dead process's one is removed by cleanup().
    const tmp = join(this.root, `.refill-${meta.id}-${process.pid}-${randomBytes(4).toString('hex')}`);
    await this.firstDirReady();
    await mkdir(join(tmp, 'fs'), { recursive: true, mode: 0o755 });
    try {
      await fill(join(tmp, 'fs'));
      await fsyncDir(tmp);
      const hasFs = async () => (await stat(join(dir, 'fs')).catch(() => undefined))?.isDirectory() === true;
      for (let tries = 0; ; tries++) {
        try {
          await rename(tmp, dir);
          break;
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if ((code !== 'ENOTEMPTY' && code !== 'EEXIST') || tries > 2) throw err;
          if (await hasFs()) break; // another build refilled it first
          await rm(dir, { recursive: true, force: true }); // a half-removed dir (no fs/)
        }
      }
      await fsyncDir(this.root);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
    return true;
  }

  async walk(fn: (info: SnapshotInfo) => void | Promise<void>): Promise<void> {
    const all = await this.readAll();
    all.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    for (const m of all) await fn(toInfo(m));
  }

  /**
   * Remove active snapshots and views whose creating process (label tsbuild.pid) is dead, and snapshot
   * directories that no metadata refers to (left by a crash inside prepare or remove).
   */
  async cleanup(): Promise<void> {
    // Directories are listed before metadata is read: prepare writes metadata before it creates the
    // directory, so a directory seen here always has its metadata visible below (or is garbage).
    const dirs = (await readdirOrEmpty(this.root)).filter((n) => /^[a-f0-9]{8}$/.test(n));
    let all = await this.readAll();
    for (const m of all) {
      if (m.kind === 'committed') continue;
      const pid = Number(m.labels?.[PID_LABEL]);
      if (Number.isInteger(pid) && pid > 0 && pidAlive(pid)) continue;
      await unlink(this.metaPath(m.key)).catch(ignoreENOENT);
    }
    await fsyncDir(this.metaDir).catch(ignoreENOENT);
    all = await this.readAll();
    const used = new Set(all.map((m) => m.id));
    for (const d of dirs) if (!used.has(d)) await rm(join(this.root, d), { recursive: true, force: true });
    for (const n of await readdirOrEmpty(this.root)) {
      const pid = Number(/^\.refill-[a-f0-9]{8}-(\d+)-[a-f0-9]+$/.exec(n)?.[1]);
      if (pid && !pidAlive(pid)) await rm(join(this.root, n), { recursive: true, force: true });
    }
  }

  // ---- internals ----

  private async create(key: string, kind: 'active' | 'view', parent: string | undefined, labels: Record<string, string> | undefined): Promise<Meta> {
    if (parent !== undefined) {
      const p = await this.parentMeta(parent);
      if (!p) throw new NotFoundError('SNAPSHOT_NOT_FOUND', `parent snapshot "${parent}" does not exist`);
      if (p.kind !== 'committed') throw new StoreError('SNAPSHOT_NOT_COMMITTED', `parent snapshot "${parent}" is not committed`);
    }
    for (;;) {
      const meta: Meta = {
        key,
        id: randomBytes(4).toString('hex'),
        kind,
        created: new Date().toISOString(),
        labels: { ...labels, [PID_LABEL]: String(process.pid) },
      };
      if (parent !== undefined) meta.parent = parent;
      // An active snapshot or view is garbage after a crash (cleanup() removes it, and a directory no
      // metadata names): its metadata need not be durable, only never torn (the file is still fsynced).
      await this.writeMetaExclusive(meta, false);
      try {
        await this.firstDirReady();
        await mkdir(this.root, { recursive: true });
        await mkdir(join(this.root, meta.id));
      } catch (err) {
        await unlink(this.metaPath(key));
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue; // id collision: draw again
        throw err;
      }
      await mkdir(join(this.root, meta.id, 'fs'), { mode: 0o755 });
      if (kind === 'active') {
        await mkdir(join(this.root, meta.id, 'work'), { mode: 0o700 });
        // Durable by commit time, off the step's critical path (commit awaits it).
        const synced = this.syncDirs(meta.id);
        synced.catch(() => {});
        this.dirsSynced.set(meta.id, synced);
      }
      return meta;
    }
  }

  private async mountsOrUndo(meta: Meta): Promise<Mount[]> {
    try {
      return await this.mountsFor(meta);
    } catch (err) {
      await this.remove(meta.key).catch(() => {});
      throw err;
    }
  }

  private async mountsFor(meta: Meta): Promise<Mount[]> {
    const dir = join(this.root, meta.id);
    const lowers = await this.lowerDirs(meta.parent);
    if (meta.kind === 'active') {
      if (lowers.length === 0) return [{ type: 'bind', source: join(dir, 'fs'), options: ['rw', 'rbind'] }];
      return [overlay([...SAFE_OPTIONS, `lowerdir=${lowers.join(':')}`, `upperdir=${join(dir, 'fs')}`, `workdir=${join(dir, 'work')}`])];
    }
    // view, or a committed snapshot mounted read-only (its own layer on top)
    if (meta.kind === 'committed') lowers.unshift(join(dir, 'fs'));
    if (lowers.length === 0) return [{ type: 'bind', source: join(dir, 'fs'), options: ['ro', 'rbind'] }];
    if (lowers.length === 1) return [{ type: 'bind', source: lowers[0]!, options: ['ro', 'rbind'] }];
    return [overlay([...SAFE_OPTIONS, `lowerdir=${lowers.join(':')}`])];
  }

  /** Layer dirs of `parent` and its ancestors, nearest first. */
  private async lowerDirs(parent: string | undefined): Promise<string[]> {
    const out: string[] = [];
    const seen = new Set<string>();
    while (parent !== undefined) {
      if (seen.has(parent)) throw new StoreError('SNAPSHOT_CYCLE', `snapshot parent chain loops at "${parent}"`);
      seen.add(parent);
      const m = await this.parentMeta(parent);
      if (!m) throw new StoreError('SNAPSHOT_BROKEN_CHAIN', `snapshot parent "${parent}" is missing from the store`);
      out.push(join(this.root, m.id, 'fs'));
      parent = m.parent;
    }
    return out;
  }

  private metaPath(key: string): string {
    return join(this.metaDir, createHash('sha256').update(key).digest('hex') + '.json');
  }

  private async readMeta(key: string): Promise<Meta | undefined> {
    try {
      const m = JSON.parse(readFileSync(this.metaPath(key), 'utf8')) as Meta; // small: one call, not four thread-pool round trips
      return m.key === key ? m : undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new StoreError('SNAPSHOT_META_CORRUPT', `cannot read metadata of snapshot "${key}": ${(err as Error).message}`, { cause: err });
    }
  }

  /** fsync a snapshot's dir (its fs/ and work/ entries) and the root (its own entry). */
  private async syncDirs(id: string): Promise<void> {
    await fsyncDir(join(this.root, id));
    await fsyncDir(this.root);
  }

  /** readMeta for a snapshot used as a parent; committed ones are remembered. */
  private async parentMeta(key: string): Promise<Meta | undefined> {
    const known = this.parents.get(key);
    if (known) return known;
    const m = await this.readMeta(key);
    if (m?.kind === 'committed') this.parents.set(key, m);
    return m;
  }

  private async need(key: string): Promise<Meta> {
    const m = await this.readMeta(key);
    if (!m) throw new NotFoundError('SNAPSHOT_NOT_FOUND', `snapshot "${key}" does not exist`);
    return m;
  }

  private async readAll(): Promise<Meta[]> {
    const out: Meta[] = [];
    const read = (n: string): Meta | undefined => {
      try {
        return JSON.parse(readFileSync(join(this.metaDir, n), 'utf8')) as Meta;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        return undefined;
      }
    };
    // Synchronous reads in slices (../fsutil/in-slices.ts): one call each instead of four thread-pool round trips.
    for await (const m of inSlices((await readdirOrEmpty(this.metaDir)).filter((n) => n.endsWith('.json') && !n.startsWith('.')), read)) if (m) out.push(m);
    return out;
  }

  /**
   * Publish metadata for a new key: temp file, fsync, link(2) (fails if the key exists), then fsync the
   * dir unless `syncDir` is false (the caller syncs it, or the entry need not survive a crash).
   */
  private async writeMetaExclusive(meta: Meta, syncDir = true): Promise<void> {
    await mkdir(this.metaDir, { recursive: true });
    const path = this.metaPath(meta.key);
    const tmp = tempPathFor(path);
    const fh = await open(tmp, 'wx', 0o644);
    try {
      await fh.writeFile(JSON.stringify(meta) + '\n');
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await link(tmp, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new StoreError('SNAPSHOT_EXISTS', `snapshot "${meta.key}" already exists`, { cause: err });
      }
      throw err;
    } finally {
      await unlink(tmp).catch(() => {});
    }
    if (syncDir) await fsyncDir(this.metaDir);
  }
}

function overlay(options: string[]): Mount {
  const joined = options.join(',');
  if (Buffer.byteLength(joined) > MAX_OPTIONS) {
    throw new StoreError('MOUNT_OPTIONS_TOO_LONG', `overlay mount options are ${Buffer.byteLength(joined)} bytes (limit ${MAX_OPTIONS}): too many layers or too long a store path`, {
      hint: 'use a shorter store path (--root) or fewer layers',
    });
  }
  return { type: 'overlay', source: 'overlay', options };
}

function toInfo(m: Meta): SnapshotInfo {
  const info: SnapshotInfo = { key: m.key, kind: m.kind, created: m.created };
  if (m.parent !== undefined) info.parent = m.parent;
  if (m.labels !== undefined) info.labels = { ...m.labels };
  return info;
}


async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

function ignoreENOENT(err: unknown): void {
  if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
}
