import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isEmptyDir, plainKind, RootfsFactsMemo, writableOverlay, type RootfsFacts } from '../../../src/executor/rootfs-facts.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tsbuild-facts-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const root = { uid: 0, gid: 0, additionalGids: [], home: '/root' };

function facts(paths: [string, 'dir' | 'file' | 'absent'][], users = true): RootfsFacts {
  return { users: new Map(users ? [['', root]] : []), paths: new Map(paths) };
}

async function layer(name: string, files: Record<string, string | null> = {}): Promise<string> {
  const d = join(dir, name);
  await mkdir(d, { recursive: true });
  for (const [p, content] of Object.entries(files)) {
    await mkdir(join(d, p, '..'), { recursive: true });
    if (content === null) await mkdir(join(d, p));
    else await writeFile(join(d, p), content);
  }
  return d;
}

describe('writableOverlay', () => {
  it('takes apart one writable overlay with absolute plain paths', () => {
    const options = ['index=off', 'lowerdir=/a/fs:/b/fs', 'upperdir=/c/fs', 'workdir=/c/work'];
    expect(writableOverlay([{ type: 'overlay', source: 'overlay', options }])).toEqual({ lowers: ['/a/fs', '/b/fs'], upper: '/c/fs', options });
  });

  it('refuses what it cannot hand to runc as is', () => {
    const ov = (options: string[]) => [{ type: 'overlay', source: 'overlay', options }];
    expect(writableOverlay([{ type: 'bind', source: '/x', options: ['rbind'] }])).toBeUndefined();
    expect(writableOverlay(ov(['lowerdir=/a:/b']))).toBeUndefined(); // a read-only view: no upper
    expect(writableOverlay(ov(['lowerdir=a', 'upperdir=/u', 'workdir=/w']))).toBeUndefined();
    expect(writableOverlay(ov(['lowerdir=/a', 'upperdir=u', 'workdir=/w']))).toBeUndefined();
    expect(writableOverlay(ov(['lowerdir=/a\\:b', 'upperdir=/u', 'workdir=/w']))).toBeUndefined();
    const two = [...ov(['lowerdir=/a', 'upperdir=/u', 'workdir=/w']), { type: 'bind', source: '/x', options: [] }];
    expect(writableOverlay(two)).toBeUndefined();
  });
});

describe('plainKind', () => {
  it('tells dirs, files and absent paths, and refuses symlinks anywhere on the path', async () => {
    const r = await layer('pk', { 'etc/passwd': 'x', 'proc': null });
    await symlink('/etc', join(r, 'link'));
    await symlink('passwd', join(r, 'etc/pw'));
    expect(await plainKind(r, '/')).toBe('dir');
    expect(await plainKind(r, '/etc')).toBe('dir');
    expect(await plainKind(r, '/etc/passwd')).toBe('file');
    expect(await plainKind(r, '/proc')).toBe('dir');
    expect(await plainKind(r, '/nope/deeper')).toBe('absent');
    expect(await plainKind(r, '/link/passwd')).toBeUndefined();
    expect(await plainKind(r, '/etc/pw')).toBeUndefined();
    expect(await plainKind(r, '/etc/passwd/x')).toBeUndefined(); // a file in the middle
    expect(await plainKind(r, '/../etc')).toBeUndefined();
  });
});

describe('RootfsFactsMemo', () => {
  it('knows a recorded stack, and carries facts up over a layer that has none of their top-level names', async () => {
    const memo = new RootfsFactsMemo();
    const base = await layer('base');
    const top = await layer('top-unrelated', { 'app/bin/tool': 'x', 'var/log/x': 'y' });
    const f = facts([['/etc/hosts', 'file'], ['/proc', 'dir'], ['/work', 'dir']]);
    memo.record([base], f);
    expect(await memo.lookup([base])).toBe(f);
    const up = await memo.lookup([top, base]);
    expect(up?.users.get('')).toEqual(root);
    expect(up?.paths.get('/work')).toBe('dir');
    // and once more up, from the derived facts
    const top2 = await layer('top2-unrelated', { 'tmp/x': 'x' });
    expect((await memo.lookup([top2, top, base]))?.paths.get('/proc')).toBe('dir');
    // an unknown stack below: nothing
    expect(await memo.lookup([top, await layer('other')])).toBeUndefined();
  });

  it('refuses to carry facts over a layer that has an entry at one of their names (file, dir, whiteout)', async () => {
    const memo = new RootfsFactsMemo();
    const base = await layer('base2');
    memo.record([base], facts([['/etc/hosts', 'file'], ['/work', 'dir']]));
    // passwd changed: users and /etc/hosts may differ
    expect(await memo.lookup([await layer('t-etc', { 'etc/passwd': 'app:x:1:1::/:/bin/sh\n' }), base])).toBeUndefined();
    // the cwd's top-level dir is in the layer (it may be opaque, or replaced)
    expect(await memo.lookup([await layer('t-work', { 'work/f': 'x' }), base])).toBeUndefined();
    // a whiteout (0/0 character device) of /work
    const wh = await layer('t-wh');
    execFileSync('mknod', [join(wh, 'work'), 'c', '0', '0']);
    expect(await memo.lookup([wh, base])).toBeUndefined();
  });

  it('carries facts over several layers at once (a RUN layer and COPY layers on it), each checked', async () => {
    const memo = new RootfsFactsMemo();
    const base = await layer('base5');
    memo.record([base], facts([['/work', 'dir']]));
    const run = await layer('t5-run', { 'opt/x': 'x' });
    const copy = await layer('t5-copy', { 'app/y': 'y' });
    expect((await memo.lookup([copy, run, base]))?.paths.get('/work')).toBe('dir');
    const copyEtc = await layer('t5-copy-etc', { 'etc/group': 'g' });
    expect(await memo.lookup([copy, copyEtc, run, base])).toBeUndefined(); // a middle layer changed /etc
  });

  it('without user facts, /etc does not matter', async () => {
    const memo = new RootfsFactsMemo();
    const base = await layer('base3');
    memo.record([base], facts([['/proc', 'dir']], false));
    expect((await memo.lookup([await layer('t3-etc', { 'etc/motd': 'hi' }), base]))?.paths.get('/proc')).toBe('dir');
  });

  it('merges what a second slow-path run learns about the same stack', async () => {
    const memo = new RootfsFactsMemo();
    const base = await layer('base4');
    memo.record([base], facts([['/a', 'dir']]));
    memo.record([base], { users: new Map([['app', { ...root, uid: 5 }]]), paths: new Map([['/b', 'file']]) });
    const f = await memo.lookup([base]);
    expect([...f!.paths.keys()].sort()).toEqual(['/a', '/b']);
    expect(f!.users.get('app')?.uid).toBe(5);
  });
});

describe('isEmptyDir', () => {
  it('is true only for an existing empty directory', async () => {
    expect(await isEmptyDir(await layer('empty'))).toBe(true);
    expect(await isEmptyDir(await layer('full', { f: 'x' }))).toBe(false);
    expect(await isEmptyDir(join(dir, 'missing'))).toBe(false);
  });
});
