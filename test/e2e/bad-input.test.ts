/**
 * The bad-input corpus: malformed Dockerfiles, flags, .dockerignore files, references, contexts and a full
 * store disk, each run through the real CLI (bin/tsbuild, a temp store). Every entry must end with a clear
 * error that names the file and line or the flag, with exit code 1 or 2, no stack trace (`    at ` lines),
 * no "internal error", and no path inside the store. The table is test/fixtures/bad-input/cases.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suiteSandbox, type RunOutput } from './harness.js';
import { CASES, type BadInput } from '../fixtures/bad-input/cases.js';

const sb = suiteSandbox();

function contextFor(c: BadInput, i: number): string {
  const dir = join(sb.dir, `case-${i}`);
  mkdirSync(dir, { recursive: true });
  if (c.dockerfile !== undefined) writeFileSync(join(dir, 'Dockerfile'), c.dockerfile);
  if (c.dockerignore !== undefined) writeFileSync(join(dir, '.dockerignore'), c.dockerignore);
  for (const [name, content] of Object.entries(c.files ?? {})) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    if (content.startsWith('symlink:')) symlinkSync(content.slice('symlink:'.length), join(dir, name));
    else writeFileSync(join(dir, name), content);
  }
  return dir;
}

/** Why `out` is not a clear error for `c`, or [] when it is. */
function problems(c: BadInput, out: RunOutput, storeRoot: string): string[] {
  const p: string[] = [];
  if (out.code !== 1 && out.code !== 2) p.push(`exit code ${out.code}`);
  if (c.code !== undefined && out.code !== c.code) p.push(`exit code ${out.code}, expected ${c.code}`);
  if (/^\s+at /m.test(out.stderr)) p.push('stack trace');
  if (/internal error/i.test(out.stderr)) p.push('"internal error"');
  if (out.stderr.includes(storeRoot + '/')) p.push('a path inside the store');
  if (!c.message.test(out.stderr)) p.push(`message does not match ${c.message}`);
  if (!c.where.test(out.stderr)) p.push(`does not name ${c.where}`);
  if (out.stderr.length > (c.maxOutput ?? 20_000)) p.push(`${out.stderr.length} bytes of output`);
  return p;
}

async function runCase(c: BadInput, i: number, root: string): Promise<string[]> {
  const ctx = c.context === 'missing' ? join(sb.dir, 'no-such-dir') : c.context === 'file' ? join(contextFor(c, i), 'Dockerfile') : contextFor(c, i);
  const args = c.args?.map((a) => a.replace('$CTX', ctx)) ?? [];
  const argv = c.noContext ? ['build', ...args] : ['build', '--progress', 'plain', ...args, ctx];
  const out = await sb.tsbuild(argv, { cwd: sb.dir, env: { TSBUILD_ROOT: root } });
  const p = problems(c, out, root);
  return p.length === 0 ? [] : [`#${i} ${c.name}: ${p.join('; ')}\n${out.stderr.slice(-1500)}`];
}

describe('bad-input corpus', () => {
  it(`every entry is a clear error (${CASES.length} entries)`, async () => {
    const failures: string[] = [];
    let next = 0;
    const worker = async () => {
      while (next < CASES.length) {
        const i = next++;
        failures.push(...(await runCase(CASES[i]!, i, sb.root)));
      }
    };
    await Promise.all([worker(), worker(), worker()]);
    console.log(`bad-input corpus: tried ${CASES.length}, failed ${failures.length}`);
    expect(failures).toEqual([]);
  }, 600_000);
});

/** A store on a small loop-mounted ext4 filesystem: ENOSPC is the store's disk being full, said once, clearly. */
describe('a full store disk', () => {
  let mnt = '';
  let img = '';
  let loop = '';
  beforeAll(() => {
    const base = mkdtempSync(join(sb.dir, 'loop-'));
    img = join(base, 'fs.img');
    mnt = join(base, 'mnt');
    mkdirSync(mnt);
    execFileSync('truncate', ['-s', '24M', img]);
    execFileSync('mkfs.ext4', ['-q', '-F', '-m', '0', img]); // no blocks reserved for root: root fills it too
    loop = execFileSync('losetup', ['--find', '--show', img]).toString().trim();
    execFileSync('mount', [loop, mnt]);
  });
  afterAll(() => {
    if (mnt) execFileSync('umount', ['-l', mnt], { stdio: 'ignore' });
    if (loop) execFileSync('losetup', ['-d', loop], { stdio: 'ignore' });
  });

  it('ENOSPC while writing a layer names the store, not the step, with no internal path', async () => {
    const root = join(mnt, 'store-layer');
    const c: BadInput = {
      name: 'COPY of 40 MB into a 24 MB store',
      dockerfile: 'FROM scratch\nCOPY big /big\n',
      message: /the disk holding the store .*store-layer is full \(no space left on device\)/,
      where: /store-layer/,
    };
    const ctx = contextFor(c, 1000);
    writeFileSync(join(ctx, 'big'), execFileSync('head', ['-c', String(40 << 20), '/dev/urandom'], { maxBuffer: 64 << 20 }));
    const out = await sb.tsbuild(['build', '--progress', 'plain', ctx], { env: { TSBUILD_ROOT: root } });
    expect(problems(c, out, root)).toEqual([]);
    rmSync(root, { recursive: true, force: true });
  }, 120_000);

  it('ENOSPC while writing the build marker (the disk filled after the store was made) is the same clear error', async () => {
    const root = join(mnt, 'store-marker');
    const c: BadInput = { name: 'a build on a full disk', dockerfile: 'FROM scratch\nCOPY Dockerfile /\n', message: /the disk holding the store .*store-marker is full/, where: /store-marker/ };
    const ctx = contextFor(c, 1001);
    expect((await sb.tsbuild(['build', '--progress', 'plain', ctx], { env: { TSBUILD_ROOT: root } })).code).toBe(0);
    // Fill every block, then every inode: the next build cannot create its marker (or anything else).
    const fill = join(mnt, 'fill');
    mkdirSync(fill);
    for (const bs of ['1M', '4k']) {
      try {
        execFileSync('dd', ['if=/dev/zero', `of=${join(fill, bs)}`, `bs=${bs}`], { stdio: 'ignore' });
      } catch {
        // dd ends with ENOSPC: full, as wanted
      }
    }
    try {
      for (let i = 0; ; i++) writeFileSync(join(fill, `i${i}`), '');
    } catch (err) {
      expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC');
    }
    const out = await sb.tsbuild(['build', '--progress', 'plain', '--no-cache', ctx], { env: { TSBUILD_ROOT: root } });
    expect(problems(c, out, root)).toEqual([]);
    rmSync(fill, { recursive: true, force: true });
  }, 120_000);
});
