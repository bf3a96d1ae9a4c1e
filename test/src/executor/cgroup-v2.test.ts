/**
 * cgroup v2 for real on a hybrid host (cgroup v1 controllers + a cgroup2 mount at /sys/fs/cgroup/unified):
 * a child process in its own mount namespace, where that cgroup2 mount is bind-mounted on /sys/fs/cgroup,
 * runs the executor (bundled from source with esbuild). runc and tsbuild then see a pure v2 host whose
 * root offers only the controllers not bound to a v1 hierarchy (here: none of pids, memory, cpu).
 * On a pure v2 host the child runs on /sys/fs/cgroup as it is.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const CGROUP2_SUPER_MAGIC = 0x63677270;
let dir: string;
let result: Record<string, any>;
let controllers: string[];

async function isCgroup2(path: string): Promise<boolean> {
  return (await statfs(path).catch(() => undefined))?.type === CGROUP2_SUPER_MAGIC;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tsbuild-cgv2-'));
  const entry = fileURLToPath(new URL('./cgroup-v2-child.ts', import.meta.url));
  const bundle = join(dir, 'child.mjs');
  await build({ entryPoints: [entry], bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile: bundle, packages: 'external', logLevel: 'silent' });
  const hybrid = !(await isCgroup2('/sys/fs/cgroup'));
  if (hybrid && !(await isCgroup2('/sys/fs/cgroup/unified'))) throw new Error('no cgroup2 mount at /sys/fs/cgroup/unified on this cgroup v1 host');
  const v2root = hybrid ? '/sys/fs/cgroup/unified' : '/sys/fs/cgroup';
  controllers = (await readFile(join(v2root, 'cgroup.controllers'), 'utf8')).trim().split(/\s+/).filter(Boolean);
  const node = JSON.stringify(process.execPath);
  const script = `${hybrid ? 'mount --bind /sys/fs/cgroup/unified /sys/fs/cgroup && ' : ''}exec ${node} ${JSON.stringify(bundle)} ${JSON.stringify(join(dir, 'work'))}`;
  const r = spawnSync('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script], { encoding: 'utf8', cwd: fileURLToPath(new URL('../../..', import.meta.url)) });
  if (r.status !== 0) throw new Error(`cgroup v2 child failed (${r.status}):\n${r.stderr}`);
  result = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
}, 60_000);

afterAll(() => rm(dir, { recursive: true, force: true }));

describe('cgroup v2 (hybrid host: the cgroup2 mount in a mount namespace of its own)', () => {
  it('detects v2 and exactly the controllers the v2 root offers', () => {
    expect(result.support.version).toBe(2);
    for (const c of ['pids', 'memory', 'cpu']) expect(result.support[c], c).toBe(controllers.includes(c));
  });

  it('runs a step in its own cgroup under ours, and removes it afterwards', () => {
    const own = result.support.own[''] as string;
    expect(result.plain.exitCode).toBe(0);
    const [line, pidsMax] = (result.plain.stdout as string).trim().split('\n');
    expect(line).toMatch(new RegExp(`^0::${own === '/' ? '' : own}/tsbuild-tsb-\\d+-[0-9a-f]+$`));
    // With the pids controller the default limit is applied; without it there is no pids.max at all.
    expect(pidsMax).toBe(controllers.includes('pids') ? '16384' : 'no-pids');
    expect(result.cgroupsLeft).toEqual([]);
    expect(result.leftover).toBe(false);
  });

  it('applies a pids and a memory limit, or refuses each clearly when v2 does not offer its controller', () => {
    for (const [c, res, value] of [['pids', result.pids, '10'], ['memory', result.memory, String(64 * 1024 * 1024)]] as const) {
      if (controllers.includes(c)) {
        expect(res.stdout.trim(), c).toBe(value);
      } else {
        expect(res.code, c).toBe('LIMIT_UNSUPPORTED');
        expect(res.message).toContain('(cgroup v2)');
        expect(res.hint).toContain(`delegate the ${c} controller`);
      }
    }
  });
});
