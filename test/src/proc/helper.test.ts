/**
 * helperSpawn (src/proc/helper.ts): a command run as a child of the system call helper, not of this process
 * (no fork of Node), with its output, exit status, signals and errors as a ChildProcess of our own gives them.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { helperReady, helperSpawn, stopHelper, type HelperChild } from '../../../src/proc/helper.js';

interface Ran {
  out: Buffer;
  err: Buffer;
  outChunks: number;
  code: number | null;
  signal: NodeJS.Signals | null;
}

function ran(c: HelperChild): Promise<Ran> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  c.stdout.on('data', (b: Buffer) => out.push(b));
  c.stderr.on('data', (b: Buffer) => err.push(b));
  return new Promise((resolve, reject) => {
    c.on('error', reject);
    c.on('close', (code: number | null, signal: NodeJS.Signals | null) => resolve({ out: Buffer.concat(out), err: Buffer.concat(err), outChunks: out.length, code, signal }));
  });
}

async function run(cmd: string, args: string[]): Promise<Ran> {
  expect(await helperReady()).toBe(true);
  const c = helperSpawn(cmd, args);
  expect(c).toBeDefined();
  return ran(c!);
}

afterAll(() => stopHelper());

describe('helperSpawn', () => {
  it('runs the command as a child of the helper, not of this process, stdin /dev/null', async () => {
    const r = await run('sh', ['-c', 'echo $PPID; cat /proc/$PPID/comm; readlink /proc/self/fd/0; cat']);
    const [ppid, comm, stdin] = r.out.toString().split('\n');
    expect(Number(ppid)).not.toBe(process.pid);
    expect(comm).toBe('perl');
    expect(stdin).toBe('/dev/null');
    expect(r.code).toBe(0);
  });

  it('stdout and stderr apart, every byte value intact, in order, one chunk per write that fits a read', async () => {
    // 0..255 four times to stdout, a marker to stderr, then 300 KB of numbered lines
    const r = await run('sh', ['-c', "i=0; while [ $i -lt 4 ]; do printf \"$(printf '\\\\%03o' $(seq 0 255))\"; i=$((i+1)); done; echo oops >&2; seq 1 50000"]);
    const bytes = Buffer.from(Array.from({ length: 1024 }, (_, i) => i % 256));
    expect(r.out.subarray(0, 1024).equals(bytes)).toBe(true);
    expect(r.out.subarray(1024).toString()).toBe(Array.from({ length: 50000 }, (_, i) => `${i + 1}\n`).join(''));
    expect(r.err.toString()).toBe('oops\n');
    const one = await run('perl', ['-e', 'syswrite(STDOUT, "x" x 5000)']);
    expect(one.out.toString()).toBe('x'.repeat(5000));
    expect(one.outChunks).toBe(1); // a 5000-byte write crosses the relay's 2000-byte lines and arrives whole
  });

  it('exit codes, death by a signal, kill(), and a missing program (ENOENT, as spawn reports it)', async () => {
    expect((await run('sh', ['-c', 'exit 3'])).code).toBe(3);
    const term = await run('sh', ['-c', 'kill -TERM $$; sleep 5']);
    expect(term).toMatchObject({ code: null, signal: 'SIGTERM' });
    const c = helperSpawn('sleep', ['30'])!;
    const done = ran(c);
    c.kill('SIGKILL');
    expect(await done).toMatchObject({ code: null, signal: 'SIGKILL' });
    const missing = helperSpawn('/no/such/program', [])!;
    await expect(ran(missing)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('answers undefined where the caller must spawn itself: an argument with a newline, TSBUILD_HELPER=0', async () => {
    expect(await helperReady()).toBe(true);
    expect(helperSpawn('echo', ['a\nb'])).toBeUndefined();
    process.env.TSBUILD_HELPER = '0';
    try {
      expect(helperSpawn('echo', ['x'])).toBeUndefined();
    } finally {
      delete process.env.TSBUILD_HELPER;
    }
  });
});

describe('helperSpawn: CPU time', () => {
  /** The compiled helper (dist/, made by `npm run build`): it runs in a process of its own here. */
  const helperJs = fileURLToPath(new URL('../../../dist/src/proc/helper.js', import.meta.url));

  it("a command's CPU time counts as the build's (the helper waits for its children), as when we spawned it", () => {
    if (!existsSync(helperJs)) throw new Error('dist/src/proc/helper.js is missing: run `npm run build` first');
    // CPU seconds (user + sys) of a command and its waited-for children, as /usr/bin/time counts them.
    const cpu = (cmd: string, args: string[]): number => {
      const err = spawnSync('/usr/bin/time', ['-f', 'CPU %U %S', cmd, ...args], { encoding: 'utf8' }).stderr;
      const m = /CPU ([\d.]+) ([\d.]+)/.exec(err);
      if (!m) throw new Error(`no CPU line from /usr/bin/time: ${err}`);
      return Number(m[1]) + Number(m[2]);
    };
    const run = (script: string): number => {
      const code = `import(${JSON.stringify(helperJs)}).then(async (h) => { await h.helperReady(); const c = h.helperSpawn('sh', ['-c', ${JSON.stringify(script)}]); await new Promise((r) => c.on('close', r)); await h.stopHelper(); })`;
      return cpu(process.execPath, ['--input-type=module', '-e', code]);
    };
    const busy = 'i=0; while [ $i -lt 400000 ]; do i=$((i+1)); done';
    // the loop alone, in a process of its own: what the helper's grandchild must add to the build's time
    // (its CPU, not its wall time: on a loaded machine the wall time grows, the CPU does not)
    const loop = cpu('sh', ['-c', busy]);
    const idle = run('true');
    const working = run(busy);
    expect(working - idle).toBeGreaterThan(loop * 0.5);
  });
});

describe('helperSpawn: what a relay costs', () => {
  const helperJs = fileURLToPath(new URL('../../../dist/src/proc/helper.js', import.meta.url));

  it('a relay loads no Perl module (no POSIX.pm per command): a POSIX.pm put first in @INC is never loaded', () => {
    if (!existsSync(helperJs)) throw new Error('dist/src/proc/helper.js is missing: run `npm run build` first');
    const dir = mkdtempSync(join(tmpdir(), 'tsbuild-helper-inc-'));
    try {
      const marker = join(dir, 'loaded');
      // A POSIX.pm that leaves a mark when loaded (and still offers _exit, so nothing hangs if it is).
      writeFileSync(join(dir, 'POSIX.pm'), `package POSIX; open(my $f, '>>', ${JSON.stringify(marker)}); print $f "x\\n"; close $f; sub _exit { CORE::exit($_[0]) } 1;\n`);
      const env = { ...process.env, PERL5LIB: dir };
      // the trap works: perl with this PERL5LIB loads that file for `require POSIX`
      spawnSync('perl', ['-e', 'require POSIX; POSIX::_exit(0)'], { env });
      expect(existsSync(marker)).toBe(true);
      rmSync(marker);
      const code = `import(${JSON.stringify(helperJs)}).then(async (h) => { await h.helperReady(); for (const a of ['0', '3']) { const c = h.helperSpawn('sh', ['-c', 'exit ' + a]); const st = await new Promise((r) => c.on('close', (x) => r(x))); console.log(st); } const bad = h.helperSpawn('/nonexistent/cmd', []); console.log(await new Promise((r) => bad.on('error', (e) => r(e.code)))); await h.stopHelper(); })`;
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', env });
      expect(r.stdout.trim().split('\n')).toEqual(['0', '3', 'ENOENT']);
      expect(existsSync(marker)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
