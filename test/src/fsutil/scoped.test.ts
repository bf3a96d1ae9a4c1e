import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isInsideRoot, resolveInRoot, resolveInRootSync } from '../../../src/fsutil/scoped.js';
import { ContextError } from '../../../src/errors.js';

let tmp: string;
let root: string;
beforeEach(() => {
  tmp = mkdtempSync(join(tmpdir(), 'tsbuild-scoped-'));
  root = join(tmp, 'root');
  mkdirSync(join(root, 'usr/lib'), { recursive: true });
  mkdirSync(join(tmp, 'etc'), { recursive: true });
  writeFileSync(join(tmp, 'etc/passwd'), 'host');
});
afterEach(() => rmSync(tmp, { recursive: true, force: true }));

describe('resolveInRoot', () => {
  it('maps plain paths under root', async () => {
    expect(await resolveInRoot(root, '/usr/lib')).toBe(join(root, 'usr/lib'));
    expect(await resolveInRoot(root, 'usr/./lib/')).toBe(join(root, 'usr/lib'));
    expect(await resolveInRoot(root, '/')).toBe(root);
  });

  it('never climbs above root with ..', async () => {
    expect(await resolveInRoot(root, '../../etc/passwd')).toBe(join(root, 'etc/passwd'));
    expect(await resolveInRoot(root, '/usr/../../../x')).toBe(join(root, 'x'));
  });

  it('treats an absolute link target as relative to root', async () => {
    symlinkSync('/etc', join(root, 'app'));
    expect(await resolveInRoot(root, '/app/passwd')).toBe(join(root, 'etc/passwd'));
    symlinkSync(join(tmp, 'etc'), join(root, 'hostetc')); // a host path: still inside root
    const r = await resolveInRoot(root, '/hostetc/passwd');
    expect(r).toBe(join(root, tmp.slice(1), 'etc/passwd'));
    expect(isInsideRoot(root, r)).toBe(true);
  });

  it('clamps relative link targets that climb out', async () => {
    symlinkSync('../../../../../etc', join(root, 'usr/esc'));
    expect(await resolveInRoot(root, 'usr/esc/passwd')).toBe(join(root, 'etc/passwd'));
  });

  it('follows relative links from their directory, and chains', async () => {
    symlinkSync('usr/lib', join(root, 'lib'));
    symlinkSync('../lib', join(root, 'usr/lib2'));
    expect(await resolveInRoot(root, '/lib/x.so')).toBe(join(root, 'usr/lib/x.so'));
    expect(await resolveInRoot(root, '/usr/lib2/y')).toBe(join(root, 'usr/lib/y'));
  });

  it('does not follow the final component when followFinal is false', async () => {
    symlinkSync('/etc/passwd', join(root, 'pw'));
    expect(await resolveInRoot(root, '/pw')).toBe(join(root, 'etc/passwd'));
    expect(await resolveInRoot(root, '/pw', { followFinal: false })).toBe(join(root, 'pw'));
  });

  it('reports symlink loops', () => {
    symlinkSync('b', join(root, 'a'));
    symlinkSync('a', join(root, 'b'));
    expect(() => resolveInRootSync(root, '/a/x')).toThrow(ContextError);
  });
});
