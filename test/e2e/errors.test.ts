/**
 * Bad input, end to end: each case gives one clear error naming the file and line, a non-zero exit,
 * and nothing half-written in the store.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suiteSandbox } from './harness.js';

const sb = suiteSandbox();

let n = 0;
function project(dockerfile: string, files: Record<string, string> = {}): string {
  const dir = join(sb.dir, `err-${n++}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'Dockerfile'), dockerfile);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

async function fails(args: string[]) {
  const res = await sb.tsbuild(['build', '--progress', 'plain', ...args]);
  expect(res.code, res.stderr).not.toBe(0);
  expect(res.stderr).not.toMatch(/internal error|    at /); // no stack traces
  return res.stderr;
}

describe('bad input', () => {
  it('a missing context', async () => {
    const err = await fails([join(sb.dir, 'no-such-dir')]);
    expect(err).toMatch(/build context ".*no-such-dir" does not exist/);
  });

  it('a missing Dockerfile', async () => {
    const dir = join(sb.dir, 'empty-ctx');
    mkdirSync(dir);
    const err = await fails([dir]);
    expect(err).toMatch(/cannot read Dockerfile ".*Dockerfile": no such file/);
    const err2 = await fails(['-f', join(dir, 'Nope.Dockerfile'), dir]);
    expect(err2).toMatch(/Nope\.Dockerfile/);
  });

  it('an unknown instruction names the file, line and the line itself', async () => {
    const dir = project('FROM busybox\nRUN true\nFROBNICATE the widget\n');
    const err = await fails([dir]);
    expect(err).toMatch(/unknown instruction/i);
    expect(err).toMatch(/Dockerfile:3/);
    expect(err).toContain('FROBNICATE the widget');
  });

  it('COPY of a path outside the context', async () => {
    const dir = project('FROM busybox\nCOPY ../x /x\n');
    const err = await fails([dir]);
    expect(err).toMatch(/outside the build context/);
    expect(err).toMatch(/Dockerfile:2/);
  });

  it('COPY of a path excluded by .dockerignore names the pattern', async () => {
    const dir = project('FROM busybox\nCOPY secrets/key.pem /key.pem\n', { 'secrets/key.pem': 'k', '.dockerignore': '# keep keys out\nsecrets\n' });
    const err = await fails([dir]);
    expect(err).toMatch(/secrets\/key\.pem/);
    expect(err).toMatch(/\.dockerignore/);
    expect(err).toMatch(/"secrets"/);
    expect(err).toMatch(/Dockerfile:2/);
  });

  it('a bad .dockerignore pattern names .dockerignore and its line', async () => {
    const dir = project('FROM busybox\nCOPY . /x\n', { '.dockerignore': '# comment\nsecrets\n[z-a]\n' });
    const err = await fails([dir]);
    expect(err).toMatch(/bad pattern "\[z-a\]"/);
    expect(err).toMatch(/\.dockerignore:3/);
  });

  it('ADD of a corrupt local archive fails at its line (ADD extracts archives; see dockerfile.test.ts)', async () => {
    const dir = project('FROM busybox\nADD rootfs.tar /\n');
    // A valid first tar header, then the archive ends in the middle of the file's data.
    execFileSync('sh', ['-c', 'head -c 20000 /bin/busybox > big && tar -cf full.tar big && head -c 1536 full.tar > rootfs.tar && rm big full.tar'], { cwd: dir });
    const err = await fails([dir]);
    expect(err).toMatch(/cannot unpack rootfs\.tar/);
    expect(err).toMatch(/Dockerfile:2/);
  });

  it('FROM a stage or image that does not exist', async () => {
    const dir = project('FROM busybox AS a\nRUN true\nFROM nosuchimage:1.0\nCOPY --from=a /bin/busybox /bb\n');
    const err = await fails([dir]);
    expect(err).toMatch(/nosuchimage:1\.0/);
    expect(err).toMatch(/Dockerfile:3/);
    const dir2 = project('FROM busybox\nCOPY --from=nosuchstage /x /x\n');
    const err2 = await fails([dir2]);
    expect(err2).toMatch(/nosuchstage/);
    expect(err2).toMatch(/Dockerfile:2/);
  });

  it('a RUN that exits non-zero shows the step, the line and the tail of its output', async () => {
    const dir = project('FROM busybox\nRUN echo preparing\nRUN echo "about to fail" && echo "on stderr" >&2 && exit 7\nRUN echo never\n');
    const err = await fails([dir]);
    expect(err).toMatch(/RUN echo "about to fail"/);
    expect(err).toMatch(/exit code:? 7/);
    expect(err).toMatch(/Dockerfile:3/);
    expect(err).toMatch(/> about to fail/);
    expect(err).toMatch(/> on stderr/);
    expect(err).not.toMatch(/#\d+ \[4\/4\] RUN echo never/);
  });

  it('a bad flag is a usage error with exit code 2', async () => {
    const res = await sb.tsbuild(['build', '--frobnicate', '.']);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/frobnicate/);
  });

  it('leaves nothing half-written in the store', () => {
    expect(sb.storeLeftovers()).toEqual([]);
  });
});
