import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveUser } from '../../../src/fsutil/passwd.js';
import { resolveInRoot } from '../../../src/fsutil/scoped.js';
import { NotFoundError } from '../../../src/errors.js';

const PASSWD = `root:x:0:0:root:/root:/bin/bash
# a comment
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin

app:x:1000:1001:App User:/home/app:/bin/sh
nohome:x:1002:1002::
`;
const GROUP = `root:x:0:
daemon:x:1:
appgrp:x:1001:
wheel:x:10:root,app
docker:x:999:app
staff:x:50:other
`;

let dir: string;
let rootfs: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tsbuild-passwd-'));
  rootfs = join(dir, 'rootfs');
  await mkdir(join(rootfs, 'etc'), { recursive: true });
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function writeEtc(passwd: string, group: string): Promise<void> {
  await writeFile(join(rootfs, 'etc/passwd'), passwd);
  await writeFile(join(rootfs, 'etc/group'), group);
}

describe('resolveUser', () => {
  it('"" is root with its passwd home', async () => {
    await writeEtc(PASSWD, GROUP);
    expect(await resolveUser(rootfs, '')).toEqual({ uid: 0, gid: 0, additionalGids: [0, 10], home: '/root' });
  });

  it('"" is root 0:0 /root without any passwd file', async () => {
    expect(await resolveUser(rootfs, '')).toEqual({ uid: 0, gid: 0, additionalGids: [0], home: '/root' });
    expect(await resolveUser(rootfs, 'root')).toEqual({ uid: 0, gid: 0, additionalGids: [0], home: '/root' });
  });

  it('looks a name up, with its primary gid, home and supplementary groups', async () => {
    await writeEtc(PASSWD, GROUP);
    expect(await resolveUser(rootfs, 'app')).toEqual({ uid: 1000, gid: 1001, additionalGids: [1001, 10, 999], home: '/home/app' });
  });

  it('looks a numeric uid up in passwd', async () => {
    await writeEtc(PASSWD, GROUP);
    expect(await resolveUser(rootfs, '1000')).toEqual({ uid: 1000, gid: 1001, additionalGids: [1001, 10, 999], home: '/home/app' });
  });

  it('allows a numeric uid without a passwd entry (gid 0, home /)', async () => {
    await writeEtc(PASSWD, GROUP);
    expect(await resolveUser(rootfs, '4242')).toEqual({ uid: 4242, gid: 0, additionalGids: [0], home: '/' });
  });

  it('uid:gid without entries', async () => {
    expect(await resolveUser(rootfs, '4242:77')).toEqual({ uid: 4242, gid: 77, additionalGids: [77], home: '/' });
    expect(await resolveUser(rootfs, '4242', '78')).toEqual({ uid: 4242, gid: 78, additionalGids: [78], home: '/' });
  });

  it('name:group replaces the gid and drops supplementary groups', async () => {
    await writeEtc(PASSWD, GROUP);
    expect(await resolveUser(rootfs, 'app:docker')).toEqual({ uid: 1000, gid: 999, additionalGids: [999], home: '/home/app' });
    expect(await resolveUser(rootfs, 'app', 'staff')).toEqual({ uid: 1000, gid: 50, additionalGids: [50], home: '/home/app' });
    expect(await resolveUser(rootfs, 'app:12345')).toEqual({ uid: 1000, gid: 12345, additionalGids: [12345], home: '/home/app' });
  });

  it('an empty home field becomes /', async () => {
    await writeEtc(PASSWD, GROUP);
    expect((await resolveUser(rootfs, 'nohome')).home).toBe('/');
  });

  it('an unknown name is UNKNOWN_USER', async () => {
    await writeEtc(PASSWD, GROUP);
    const err = await resolveUser(rootfs, 'ghost').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as NotFoundError).code).toBe('UNKNOWN_USER');
    expect((err as Error).message).toBe('unable to find user ghost: no matching entries in passwd file');
  });

  it('an unknown name with no passwd file is UNKNOWN_USER', async () => {
    await expect(resolveUser(rootfs, 'app')).rejects.toMatchObject({ code: 'UNKNOWN_USER' });
  });

  it('an unknown group name is UNKNOWN_GROUP', async () => {
    await writeEtc(PASSWD, GROUP);
    await expect(resolveUser(rootfs, 'app:nogroup')).rejects.toMatchObject({
      code: 'UNKNOWN_GROUP',
      message: 'unable to find group nogroup: no matching entries in group file',
    });
  });

  it('never follows an /etc/passwd symlink out of the rootfs', async () => {
    // A host file that would resolve "evil" if the symlink were followed on the host.
    await writeFile(join(dir, 'hostpasswd'), 'evil:x:666:666::/evil:/bin/sh\n');
    await symlink(join(dir, 'hostpasswd'), join(rootfs, 'etc/passwd'));
    await expect(resolveUser(rootfs, 'evil')).rejects.toMatchObject({ code: 'UNKNOWN_USER' });
    await rm(join(rootfs, 'etc/passwd'));
    await symlink('../../../hostpasswd', join(rootfs, 'etc/passwd'));
    await expect(resolveUser(rootfs, 'evil')).rejects.toMatchObject({ code: 'UNKNOWN_USER' });
  });

  it('resolves an /etc/passwd symlink inside the rootfs', async () => {
    await mkdir(join(rootfs, 'data'));
    await writeFile(join(rootfs, 'data/passwd'), PASSWD);
    await symlink('/data/passwd', join(rootfs, 'etc/passwd'));
    expect((await resolveUser(rootfs, 'app')).uid).toBe(1000);
  });
});

describe('resolveInRoot', () => {
  it('clamps absolute and .. symlinks at the root', async () => {
    await symlink('/', join(rootfs, 'up'));
    await symlink('../../..', join(rootfs, 'etc/dots'));
    expect(await resolveInRoot(rootfs, '/up/etc/x')).toBe(join(rootfs, 'etc/x'));
    expect(await resolveInRoot(rootfs, '/etc/dots/etc')).toBe(join(rootfs, 'etc'));
    expect(await resolveInRoot(rootfs, '/../../etc')).toBe(join(rootfs, 'etc'));
  });

  it('fails on a symlink loop', async () => {
    await symlink('/loop', join(rootfs, 'loop'));
    await expect(resolveInRoot(rootfs, '/loop/x')).rejects.toMatchObject({ code: 'TOO_MANY_SYMLINKS' });
  });
});
