/**
 * Snapshotter: filesystem trees stacked as layers (containerd's model).
 *
 * Words:
 * - active snapshot (`prepare(key, parent)`): writable, mounted by the caller from the returned Mount[].
 * - committed snapshot (`commit(name, key)`): the active snapshot `key` becomes read-only under `name`;
 *   `key` no longer exists. Committed snapshots can be parents.
 * - view (`view(key, parent)`): a read-only active snapshot over `parent`; removed with `remove(key)`.
 * - layer dir (`layerDir(key)`): the directory that holds only this snapshot's own changes, in overlayfs
 *   format (a deleted path is a 0/0 character device; an opaque directory has the xattr
 *   `trusted.overlay.opaque=y`). src/diff reads it to make a layer and writes into it to apply one.
 *
 * Mount[] is plain data: the snapshotter never mounts anything itself (src/snapshot/mount.ts does).
 * Metadata is written atomically; a crash leaves at worst an orphaned active snapshot that
 * `cleanup()` removes.
 */
export interface Mount {
  type: string; // "overlay" | "bind"
  source: string;
  options: string[];
}

export type SnapshotKind = 'active' | 'view' | 'committed';

export interface SnapshotInfo {
  key: string;
  kind: SnapshotKind;
  parent?: string;
  created: string;
  labels?: Record<string, string>;
}

export interface Usage {
  size: number;
  inodes: number;
}

export interface Snapshotter {
  prepare(key: string, parent?: string, opts?: { labels?: Record<string, string> }): Promise<Mount[]>;
  view(key: string, parent?: string): Promise<Mount[]>;
  mounts(key: string): Promise<Mount[]>;
  commit(name: string, key: string, opts?: { labels?: Record<string, string> }): Promise<void>;
  remove(key: string): Promise<void>;
  stat(key: string): Promise<SnapshotInfo | undefined>;
  usage(key: string): Promise<Usage>;
  layerDir(key: string): Promise<string>;
  /**
   * Make the layer dir of committed snapshot `key` again when it is gone (its metadata left behind by a
   * crash or a manual cleanup): `fill` writes the layer into an empty dir that is then moved into place.
   * The metadata, and every snapshot based on this one, stay as they are. False when the dir is there.
   */
  refill(key: string, fill: (layerDir: string) => Promise<void>): Promise<boolean>;
  walk(fn: (info: SnapshotInfo) => void | Promise<void>): Promise<void>;
  /** Remove active snapshots left behind by a crashed process. */
  cleanup(): Promise<void>;
}
