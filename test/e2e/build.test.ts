/**
 * End-to-end builds of the fixtures under test/fixtures/e2e with the real CLI, runc and overlayfs;
 * outputs checked with skopeo and umoci.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import { suiteSandbox, umociUnpack, skopeoInspect, skopeoInspectConfig, listTree } from './harness.js';

const sb = suiteSandbox();

describe('tsbuild build, end to end', () => {
  it('builds a multi-stage Dockerfile whose final FROM scratch stage copies one artifact', async () => {
    const ctx = sb.context('e2e/multistage');
    const out = join(sb.dir, 'multistage.tar');
    const res = await sb.build(['-t', 'multi:v1', '--output', `type=oci,dest=${out}`, ctx]);
    expect(res.stderr).toMatch(/RUN tr a-z A-Z/);
    expect(res.stderr).not.toMatch(/this stage must be skipped/);
    const inspect = skopeoInspect(out);
    expect(inspect.Layers).toHaveLength(1);
    const cfg = skopeoInspectConfig(out);
    expect(cfg.config.Cmd).toEqual(['/artifact.txt']);
    expect(cfg.rootfs.diff_ids).toHaveLength(1);
    const rootfs = umociUnpack(sb, out, 'v1');
    expect(listTree(rootfs)).toEqual(['artifact.txt']);
    expect(readFileSync(join(rootfs, 'artifact.txt'), 'utf8')).toBe('HELLO MULTI-STAGE\n');
    // With --output, buildx writes only that output; -t alone names the image in the local store.
    expect((await sb.tsbuild(['images'])).stdout).not.toMatch(/^multi/m);
    const again = await sb.build(['-t', 'multi:v1', ctx]);
    expect(again.stderr).toMatch(/#(\d+) \[build 4\/4\] RUN tr a-z A-Z < app\.txt > \/out\.txt\n#\1 CACHED/);
    const images = await sb.tsbuild(['images']);
    expect(images.code).toBe(0);
    expect(images.stdout).toMatch(/^multi\s+v1\s+sha256:[0-9a-f]{12}\s+\S+/m);
  });

  it('honours .dockerignore with a ! re-include inside an excluded directory', async () => {
    const ctx = sb.context('e2e/dockerignore');
    const out = join(sb.dir, 'ignore.tar');
    await sb.build(['-t', 'ignore:v1', '--output', `type=oci,dest=${out}`, ctx]);
    const rootfs = umociUnpack(sb, out, 'v1');
    expect(listTree(rootfs)).toEqual([
      'ctx/',
      'ctx/.dockerignore',
      'ctx/Dockerfile',
      'ctx/docs/',
      'ctx/docs/keep.md',
      'ctx/src/',
      'ctx/src/main.sh',
      'ctx/src/nested.log', // Docker's `*.log` matches at the root only
    ]);
  });

  it('exports a rootfs without the files a RUN deleted (whiteouts and opaque dirs)', async () => {
    const ctx = sb.context('e2e/whiteout');
    const out = join(sb.dir, 'whiteout.tar');
    await sb.build(['-t', 'whiteout:v1', '--output', `type=oci,dest=${out}`, ctx]);
    const rootfs = umociUnpack(sb, out, 'v1');
    expect(existsSync(join(rootfs, 'bin/busybox'))).toBe(true);
    expect(lstatSync(join(rootfs, 'bin/cat')).isSymbolicLink()).toBe(true);
    expect(existsSync(join(rootfs, 'bin/ls'))).toBe(false);
    expect(existsSync(join(rootfs, 'root'))).toBe(false);
    expect(listTree(join(rootfs, 'data'))).toEqual(['only-file']);
  });

  it('rebuilds an unchanged project with every step CACHED and no RUN process started', async () => {
    const ctx = sb.context('e2e/cache');
    await sb.build(['-t', 'cache:v1', ctx]);
    const before = sb.runcRuns();
    expect(before).toBeGreaterThan(0);
    const again = await sb.build(['-t', 'cache:v1', ctx]);
    expect(sb.runcRuns()).toBe(before);
    for (const step of ['COPY a.txt /a.txt', 'RUN cat /a.txt > /a-copy', 'COPY b.txt /b.txt', 'RUN cat /b.txt > /b-copy']) {
      expect(again.stderr).toMatch(new RegExp(`#(\\d+) \\[\\d/5\\] ${escape(step)}\\n#\\1 CACHED`));
    }
  });

  it('re-runs exactly the steps after the COPY of an edited file', async () => {
    const ctx = sb.context('e2e/cache');
    await sb.build(['-t', 'cache:v2', ctx]);
    writeFileSync(join(ctx, 'b.txt'), 'B changed\n');
    const before = sb.runcRuns();
    const res = await sb.build(['-t', 'cache:v2', '--output', `type=oci,dest=${join(sb.dir, 'cache2.tar')}`, ctx]);
    expect(res.stderr).toMatch(/#(\d+) \[2\/5\] COPY a\.txt \/a\.txt\n#\1 CACHED/);
    expect(res.stderr).toMatch(/#(\d+) \[3\/5\] RUN cat \/a\.txt > \/a-copy\n#\1 CACHED/);
    expect(res.stderr).not.toMatch(/#(\d+) \[4\/5\] COPY b\.txt \/b\.txt\n#\1 CACHED/);
    expect(res.stderr).not.toMatch(/#(\d+) \[5\/5\] RUN cat \/b\.txt > \/b-copy\n#\1 CACHED/);
    expect(sb.runcRuns()).toBe(before + 1);
    const rootfs = umociUnpack(sb, join(sb.dir, 'cache2.tar'), 'v2');
    expect(readFileSync(join(rootfs, 'b-copy'), 'utf8')).toBe('B changed\n');
    expect(readFileSync(join(rootfs, 'a-copy'), 'utf8')).toBe('A\n');
  });

  it('--no-cache runs every step again', async () => {
    const ctx = sb.context('e2e/cache');
    await sb.build(['-t', 'cache:v3', ctx]);
    const before = sb.runcRuns();
    const res = await sb.build(['--no-cache', '-t', 'cache:v3', ctx]);
    expect(res.stderr).not.toMatch(/CACHED/);
    expect(sb.runcRuns()).toBe(before + 2);
  });

  it('leaves no temp files, ingest leftovers or mounts behind', () => {
    expect(sb.storeLeftovers()).toEqual([]);
  });

  it('runs RUN steps with a relative --root, and leaves no mount behind', async () => {
    const ctx = sb.context('e2e/cache');
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM busybox\nRUN echo relative > /r.txt\n');
    // cwd is the sandbox dir, where the store is `store`
    const out = await sb.build(['--root', 'store', '-t', 'relroot:v1', ctx], { cwd: sb.dir });
    expect(out.stderr).toMatch(/DONE/);
    expect(sb.storeLeftovers()).toEqual([]);
    expect((await sb.tsbuild(['inspect', '--root', join(sb.dir, 'store'), 'relroot:v1'])).code).toBe(0);
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
