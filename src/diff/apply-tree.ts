import {
  chmodSync,
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  futimesSync,
  lchownSync,
  linkSync,
  lutimesSync,
  mkdirSync,
  openSync,
  rmSync,
  symlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type tar from 'tar-stream';
import { StoreError, TsbuildError } from '../errors.js';
import { makeNodes, setOpaque, type SpecialNode } from './special-files.js';

type Kind = 'dir' | 'file' | 'symlink' | 'node' | 'whiteout';

interface Meta {
  mode: number;
  uid: number;
  gid: number;
  mtime: Date;
}

const WRITE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/**
 * Writes tar entries into an empty overlay-format layer dir, safely.
 *
 * Safety rests on one invariant: every path that exists under the root was created by this object and is
 * recorded in `kinds`. A path is written only after each of its ancestors is checked against that record
 * to be a real directory, so no write ever goes through a symlink (or anything else) that an earlier entry
 * made, whatever the kernel would resolve it to. Names are cleaned like Docker does (leading `/` dropped,
 * `.` and `x/..` folded); a name that climbs above the root is rejected, and a hard link must point at a
 * file created earlier in the same layer.
 * Work that needs a whole tree (device nodes, the opaque xattr, directory times) is done in `finish()`.
 */
export class LayerTreeWriter {
  private readonly kinds = new Map<string, Kind>();
  private readonly dirMeta = new Map<string, Meta>();
  private readonly nodes = new Map<string, { node: SpecialNode; meta: Meta }>();
  private readonly opaque = new Set<string>();

  constructor(private readonly root: string) {}

  /** Apply one entry; `body` yields the entry's data (it is always read to its end). */
  async entry(header: tar.Header, body: AsyncIterable<Uint8Array>): Promise<void> {
    try {
      await this.apply(header, body);
    } catch (err) {
      if (err instanceof TsbuildError) throw err;
      throw new StoreError('LAYER_APPLY_FAILED', `cannot unpack layer entry "${header.name}": ${(err as Error).message}`, { cause: err });
    }
  }

  private async apply(header: tar.Header, body: AsyncIterable<Uint8Array>): Promise<void> {
    const rel = cleanName(header.name);
    const meta = metaOf(header);
    const base = rel.slice(rel.lastIndexOf('/') + 1);
    const parent = rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '';

    if (base.startsWith('.wh.')) {
      await drain(body);
      if (base === '.wh..wh..opq') {
        this.ensureDir(parent);
        if (parent !== '') this.opaque.add(parent);
      } else if (!base.startsWith('.wh..wh.')) {
        // `.wh.x` deletes x from the layers below: a 0/0 character device in overlay's format
        const name = base.slice(4);
        if (name === '' || name === '.' || name === '..') throw unsafe(header.name, 'whiteout of an invalid name');
        const target = parent === '' ? name : `${parent}/${name}`;
        this.ensureParents(target);
        this.replace(target, false);
        this.nodes.set(target, { node: { path: this.abs(target), type: 'c', major: 0, minor: 0 }, meta: { ...meta, mode: 0, uid: 0, gid: 0 } });
        this.kinds.set(target, 'whiteout');
      } // other `.wh..wh.*` names are aufs bookkeeping: ignored
      return;
    }
    if (rel === '') {
      await drain(body); // the root itself: it belongs to the snapshot, not the layer
      return;
    }

    switch (header.type) {
      case 'directory':
        await drain(body);
        this.ensureParents(rel);
        if (this.replace(rel, true)) mkdirSync(this.abs(rel), 0o755);
        this.kinds.set(rel, 'dir');
        this.dirMeta.set(rel, meta);
        return;
      case 'file':
      case 'contiguous-file': {
        this.ensureParents(rel);
        this.replace(rel, false);
        const fd = openSync(this.abs(rel), WRITE_FLAGS, 0o600);
        this.kinds.set(rel, 'file');
        try {
          for await (const chunk of body) {
            let off = 0;
            while (off < chunk.byteLength) off += writeSync(fd, chunk, off);
          }
          fchownSync(fd, meta.uid, meta.gid);
          fchmodSync(fd, meta.mode);
          futimesSync(fd, meta.mtime, meta.mtime);
        } finally {
          closeSync(fd);
        }
        return;
      }
      case 'symlink':
        await drain(body);
        this.ensureParents(rel);
        this.replace(rel, false);
        symlinkSync(header.linkname ?? '', this.abs(rel));
        this.kinds.set(rel, 'symlink');
        lchownSync(this.abs(rel), meta.uid, meta.gid);
        lutimesSync(this.abs(rel), meta.mtime, meta.mtime);
        return;
      case 'link': {
        await drain(body);
        const target = cleanName(header.linkname ?? '');
        const kind = this.kinds.get(target);
        if (kind !== 'file' && kind !== 'symlink') {
          throw unsafe(header.name, `hard link target "${header.linkname}" is not a file written earlier in this layer`);
        }
        this.ensureParents(rel);
        if (rel === target) return;
        this.replace(rel, false);
        linkSync(this.abs(target), this.abs(rel));
        this.kinds.set(rel, kind);
        return;
      }
      case 'character-device':
      case 'block-device':
      case 'fifo': {
        await drain(body);
        this.ensureParents(rel);
        this.replace(rel, false);
        const type = header.type === 'fifo' ? 'p' : header.type === 'block-device' ? 'b' : 'c';
        this.nodes.set(rel, { node: { path: this.abs(rel), type, major: header.devmajor ?? 0, minor: header.devminor ?? 0 }, meta });
        this.kinds.set(rel, 'node');
        return;
      }
      default:
        throw new StoreError('UNSUPPORTED_LAYER_ENTRY', `layer entry "${header.name}" has a tar type tsbuild cannot unpack (${String(header.type)})`);
    }
  }

  /** Create device nodes and whiteouts, set opaque xattrs, then directory owners, modes and times (deepest first). */
  async finish(): Promise<void> {
    const nodes = [...this.nodes.values()];
    await makeNodes(nodes.map((n) => n.node));
    for (const { node, meta } of nodes) {
      lchownSync(node.path, meta.uid, meta.gid);
      chmodSync(node.path, meta.mode);
      lutimesSync(node.path, meta.mtime, meta.mtime);
    }
    await setOpaque([...this.opaque].filter((d) => this.kinds.get(d) === 'dir').map((d) => this.abs(d)));
    const dirs = [...this.dirMeta.keys()].sort((a, b) => depth(b) - depth(a));
    for (const d of dirs) {
      const m = this.dirMeta.get(d)!;
      const p = this.abs(d);
      lchownSync(p, m.uid, m.gid);
      chmodSync(p, m.mode);
      lutimesSync(p, m.mtime, m.mtime);
    }
  }

  private abs(rel: string): string {
    return rel === '' ? this.root : join(this.root, rel);
  }

  /** Every ancestor of `rel` must be a directory this writer made; missing ones are created (0755). */
  private ensureParents(rel: string): void {
    let i = rel.indexOf('/');
    while (i >= 0) {
      this.ensureDir(rel.slice(0, i));
      i = rel.indexOf('/', i + 1);
    }
  }

  private ensureDir(rel: string): void {
    if (rel === '') return;
    this.ensureParents(rel);
    const kind = this.kinds.get(rel);
    if (kind === 'dir') return;
    if (kind !== undefined) throw unsafe(rel, `an entry would be written through "${rel}", which is a ${kind}, not a directory`);
    mkdirSync(this.abs(rel), 0o755);
    this.kinds.set(rel, 'dir');
  }

  /**
   * Make room for a new entry at `rel` (a later entry for the same path wins). Returns true if the caller
   * must create the path, false when an existing directory is kept for a directory entry.
   */
  private replace(rel: string, isDir: boolean): boolean {
    const kind = this.kinds.get(rel);
    if (kind === undefined) return true;
    if (kind === 'dir' && isDir) return false;
    if (kind !== 'whiteout' && kind !== 'node') rmSync(this.abs(rel), { recursive: true, force: true });
    const prefix = rel + '/';
    for (const m of [this.kinds, this.dirMeta, this.nodes] as Map<string, unknown>[]) {
      for (const k of m.keys()) if (k === rel || k.startsWith(prefix)) m.delete(k);
    }
    for (const k of this.opaque) if (k === rel || k.startsWith(prefix)) this.opaque.delete(k);
    return true;
  }
}

/** Docker's rule: drop leading slashes, fold `.` and `..`; climbing above the root is an error. */
export function cleanName(name: string): string {
  const parts: string[] = [];
  for (const seg of name.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (parts.length === 0) throw unsafe(name, 'the path climbs out of the layer');
      parts.pop();
      continue;
    }
    parts.push(seg);
  }
  return parts.join('/');
}

function metaOf(h: tar.Header): Meta {
  const pax = (h.pax ?? {}) as Record<string, string>;
  const num = (v: string | undefined, dflt: number) => (v !== undefined && /^\d+$/.test(v) ? Number(v) : dflt);
  const paxMtime = pax['mtime'] !== undefined ? Number(pax['mtime']) : NaN;
  return {
    mode: (h.mode ?? 0o644) & 0o7777,
    uid: num(pax['uid'], h.uid ?? 0),
    gid: num(pax['gid'], h.gid ?? 0),
    mtime: Number.isFinite(paxMtime) ? new Date(paxMtime * 1000) : (h.mtime ?? new Date(0)),
  };
}

async function drain(body: AsyncIterable<Uint8Array>): Promise<void> {
  for await (const _ of body) {
    // discard
  }
}

function depth(rel: string): number {
  let n = 0;
  for (let i = 0; i < rel.length; i++) if (rel.charCodeAt(i) === 47) n++;
  return n;
}

function unsafe(name: string, why: string): StoreError {
  return new StoreError('UNSAFE_LAYER', `layer entry "${name}" rejected: ${why}`, {
    hint: 'the layer tar is malformed or malicious; nothing was written outside the layer directory',
  });
}
