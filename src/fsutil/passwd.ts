import { resolveInRoot } from './scoped.js';
import { lstat, readFile, readlink } from 'node:fs/promises';
import { posix, join } from 'node:path';
import { NotFoundError } from '../errors.js';

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  home: string;
}

const MAX_ID = 2 ** 31 - 1;

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

/**
 * Resolve a Dockerfile `USER` value against the passwd and group files of a root filesystem, with
 * Docker's rules (moby/sys/user GetExecUser):
 * - "" is root: 0:0, home from root's passwd entry, else /root.
 * - "name" or "uid": looked up in <rootfs>/etc/passwd by name or by uid. A numeric uid without an
 *   entry is allowed (gid 0, home "/"); an unknown name is an error.
 * - "user:group": the group (name or gid) replaces the passwd gid; a numeric gid without an entry
 *   is allowed; an unknown group name is an error. The supplementary groups start with the primary gid; without an
 *   explicit group they add the groups of /etc/group that list the user (BuildKit v0.13's `id`:
 *   groups=1600(svcgrp),1700(extra)).
 * `group` may be given separately; when it is undefined, `user` may hold "user:group".
 * The files are read inside the rootfs only: symlinks are resolved as if rootfs were "/".
 */
export async function resolveUser(rootfs: string, user: string, group?: string): Promise<ResolvedUser> {
  let userSpec = user.trim();
  let groupSpec = group?.trim() ?? '';
  if (group === undefined) {
    const i = userSpec.indexOf(':');
    if (i >= 0) {
      groupSpec = userSpec.slice(i + 1);
      userSpec = userSpec.slice(0, i);
    }
  }
  if (userSpec === '') userSpec = 'root';

  const passwd = parsePasswd(await readInRoot(rootfs, '/etc/passwd'));
  const numericUid = parseId(userSpec);
  const entry = passwd.find((e) => e.name === userSpec || (numericUid !== undefined && e.uid === numericUid));

  let uid: number;
  let gid = 0;
  let home = '/';
  if (entry) {
    uid = entry.uid;
    gid = entry.gid;
    home = entry.home || '/';
  } else if (numericUid !== undefined) {
    uid = numericUid;
    if (uid === 0) home = '/root';
  } else if (userSpec === 'root') {
    // No passwd file (or no root entry): Docker still runs "" / "root" as 0:0.
    uid = 0;
    home = '/root';
  } else {
    throw new NotFoundError('UNKNOWN_USER', `unable to find user ${userSpec}: no matching entries in passwd file`, {
      hint: 'create the user in an earlier RUN step (e.g. useradd/adduser) or use a numeric uid',
    });
  }

  const additionalGids: number[] = [];
  if (groupSpec !== '' || entry) {
    const groups = parseGroup(await readInRoot(rootfs, '/etc/group'));
    if (groupSpec !== '') {
      const numericGid = parseId(groupSpec);
      const g = groups.find((e) => e.name === groupSpec || (numericGid !== undefined && e.gid === numericGid));
      if (g) gid = g.gid;
      else if (numericGid !== undefined) gid = numericGid;
      else {
        throw new NotFoundError('UNKNOWN_GROUP', `unable to find group ${groupSpec}: no matching entries in group file`, {
          hint: 'create the group in an earlier RUN step (e.g. groupadd/addgroup) or use a numeric gid',
        });
      }
    } else if (entry) {
      const seen = new Set<number>();
      for (const g of groups) {
        if (g.members.includes(entry.name) && !seen.has(g.gid)) {
          seen.add(g.gid);
          additionalGids.push(g.gid);
        }
      }
    }
  }
  // As BuildKit (measured with v0.13: `id` prints groups=<gid>[,<listed groups>]): the primary gid is always the
  // first supplementary group, also for root and for a numeric user without an entry.
  return { uid, gid, additionalGids: [gid, ...additionalGids.filter((g) => g !== gid)], home };
}

function parseId(s: string): number | undefined {
  if (!/^[0-9]+$/.test(s)) return undefined;
  const n = Number(s);
  return n <= MAX_ID ? n : undefined;
}

function lines(text: string): string[][] {
  const out: string[][] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    out.push(line.split(':'));
  }
  return out;
}

function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const f of lines(text)) {
    const uid = parseId(f[2] ?? '');
    if (uid === undefined) continue;
    out.push({ name: f[0] ?? '', uid, gid: parseId(f[3] ?? '') ?? 0, home: f[5] ?? '' });
  }
  return out;
}

function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const f of lines(text)) {
    const gid = parseId(f[2] ?? '');
    if (gid === undefined) continue;
    const members = (f[3] ?? '').split(',').map((m) => m.trim()).filter((m) => m !== '');
    out.push({ name: f[0] ?? '', gid, members });
  }
  return out;
}

/** Read a file of the rootfs; a missing file (or a path that leaves the rootfs's tree) reads as "". */
async function readInRoot(rootfs: string, path: string): Promise<string> {
  const host = await resolveInRoot(rootfs, path);
  try {
    const st = await lstat(host);
    if (!st.isFile()) return '';
    return await readFile(host, 'utf8');
  } catch (err) {
    if (isMissing(err)) return '';
    throw err;
  }
}

function isMissing(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
