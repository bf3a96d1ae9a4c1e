/**
 * The processes a build starts besides runc (issue 15, per-step overhead): file ops mount their snapshots and
 * missed steps take their locks through the one system call helper (src/proc/helper.ts), so a build of file
 * ops, a COPY --from and RUN steps starts one perl and no mount(8), umount(8) or flock(1), whatever its number
 * of steps. PATH shims log every run of those tools (and then run the real one); the image's files are checked.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { suiteSandbox } from './harness.js';
import { toolShims } from '../src/proc/tool-shims.js';

const sb = suiteSandbox();

describe('processes per step', () => {
  it('file ops, a COPY --from and RUN steps: one helper, no mount(8)/umount(8)/flock(1); the files are there', async () => {
    const log = join(sb.dir, 'tools.log');
    const shims = toolShims(join(sb.dir, 'shims'), log, ['mount', 'umount', 'flock', 'perl']);
    const ctx = join(sb.dir, 'steps');
    mkdirSync(ctx, { recursive: true });
    for (let i = 0; i < 4; i++) writeFileSync(join(ctx, `f${i}.txt`), `file ${i}\n`);
    writeFileSync(
      join(ctx, 'Dockerfile'),
      [
        'FROM busybox AS first',
        'WORKDIR /w',
        'COPY f0.txt f1.txt ./',
        'RUN cat f0.txt f1.txt > both.txt',
        'FROM busybox',
        'COPY f2.txt /f2.txt',
        'COPY f3.txt /f3.txt',
        'COPY --from=first /w/both.txt /both.txt',
        'RUN cat /f2.txt /f3.txt /both.txt > /all.txt',
        '',
      ].join('\n'),
    );
    const out = join(sb.dir, 'steps-out');
    await sb.build(['-o', `type=local,dest=${out}`, ctx], { env: { PATH: `${shims}:${process.env.PATH}` } });
    expect(readFileSync(join(out, 'all.txt'), 'utf8')).toBe('file 2\nfile 3\nfile 0\nfile 1\n');
    const runs = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').map((l) => l.split(' ')[0]) : [];
    expect(runs.filter((t) => t === 'perl')).toHaveLength(1);
    expect(runs.filter((t) => t !== 'perl')).toEqual([]);
    expect(sb.runcRuns()).toBeGreaterThanOrEqual(2);
    expect(execFileSync('sh', ['-c', `grep -c ' ${sb.root}/' /proc/self/mountinfo || true`]).toString().trim()).toBe('0');
  });
});
