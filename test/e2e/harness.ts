/**
 * End-to-end harness: runs the built CLI (bin/tsbuild → dist/) as a user would, each test file with
 * its own temp store, and a base image made from Debian's busybox-static by tsbuild itself.
 * The OCI runtime is real runc, wrapped (TSBUILD_RUNTIME) by a script that logs every `run`, so a
 * test can prove that no process started.
 */
import { spawn, execFileSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync, cpSync, chmodSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll } from 'vitest';

export const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const fixtures = join(repo, 'test/fixtures');

export interface RunOutput {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The Sandbox of one test file, with the busybox base image made before its tests and everything removed
 * after them: `const sb = suiteSandbox();` at the top of the file.
 */
export function suiteSandbox(): Sandbox {
  const sb = new Sandbox();
  beforeAll(() => sb.makeBaseImage());
  afterAll(() => sb.cleanup());
  return sb;
}

/**
 * Fresh machines for "two machines" tests (call at the top of the file, after suiteSandbox()): `machine()` is
 * a new store holding only `source`'s busybox base (loaded from an archive: the same digest, as a registry
 * would give it); `empty()` a new store with nothing in it; `checkout(sb, fixture, leaf)` copies a fixture to a new path under `sb`. Removed after the suite.
 */
export function freshMachines(source: Sandbox): { machine(): Promise<Sandbox>; empty(): Sandbox; checkout(sb: Sandbox, fixture: string, leaf: string): string } {
  const machines: Sandbox[] = [];
  const baseTar = join(source.dir, 'base.tar');
  beforeAll(async () => {
    const r = await source.tsbuild(['save', '-o', baseTar, 'busybox:latest']);
    if (r.code !== 0) throw new Error(`tsbuild save busybox failed: ${r.stderr}`);
  }, 120_000);
  afterAll(() => machines.forEach((m) => m.cleanup()));
  let n = 0;
  return {
    async machine() {
      const m = new Sandbox();
      machines.push(m);
      const r = await m.tsbuild(['load', '-i', baseTar]);
      if (r.code !== 0) throw new Error(`tsbuild load failed: ${r.stderr}`);
      return m;
    },
    empty() {
      const m = new Sandbox();
      machines.push(m);
      return m;
    },
    checkout(sb, fixture, leaf) {
      const dir = join(sb.dir, `checkout-${++n}`, leaf);
      cpSync(join(fixtures, fixture), dir, { recursive: true });
      return dir;
    },
  };
}

export class Sandbox {
  readonly dir: string;
  readonly root: string;
  readonly runcLog: string;
  readonly runtime: string;

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'tsbuild-e2e-'));
    this.root = join(this.dir, 'store');
    this.runcLog = join(this.dir, 'runc-runs.log');
    this.runtime = join(this.dir, 'runc-counting');
    const runc = execFileSync('sh', ['-c', 'command -v runc']).toString().trim();
    writeFileSync(
      this.runtime,
      `#!/bin/sh\nfor a in "$@"; do if [ "$a" = run ]; then echo run >> '${this.runcLog}'; break; fi; done\nexec '${runc}' "$@"\n`,
    );
    chmodSync(this.runtime, 0o755);
  }

  /** Run `tsbuild ARGS` with this sandbox's store. */
  tsbuild(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<RunOutput> {
    return new Promise((res, rej) => {
      const child = spawn(process.execPath, [join(repo, 'bin/tsbuild'), ...args], {
        cwd: opts.cwd ?? this.dir,
        env: { ...process.env, TSBUILD_ROOT: this.root, TSBUILD_RUNTIME: this.runtime, NO_COLOR: '1', ...opts.env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('error', rej);
      child.on('close', (code) => res({ code: code ?? -1, stdout, stderr }));
    });
  }

  /** Start `tsbuild ARGS` and return the child process (for tests that interrupt or kill it). */
  spawn(args: string[]): ChildProcessWithoutNullStreams {
    return spawn(process.execPath, [join(repo, 'bin/tsbuild'), ...args], {
      cwd: this.dir,
      env: { ...process.env, TSBUILD_ROOT: this.root, TSBUILD_RUNTIME: this.runtime, NO_COLOR: '1' },
    });
  }

  /** Build and fail loudly with the output when the build fails. */
  async build(args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<RunOutput> {
    const out = await this.tsbuild(['build', '--progress', 'plain', ...args], opts);
    if (out.code !== 0) throw new Error(`tsbuild build ${args.join(' ')} exited ${out.code}\n${out.stderr}`);
    return out;
  }

  /** Make the busybox base image in this store (scripts/make-base-image.sh, no downloads). */
  makeBaseImage(): void {
    execFileSync('bash', [join(repo, 'scripts/make-base-image.sh'), '--root', this.root], {
      env: { ...process.env, TSBUILD_RUNTIME: this.runtime },
      stdio: 'pipe',
    });
  }

  /** Copy a fixture context into the sandbox (so a test may edit it) and return its path. */
  context(name: string): string {
    const dest = join(this.dir, 'ctx-' + name.replace(/\//g, '_'));
    cpSync(join(fixtures, name), dest, { recursive: true });
    return dest;
  }

  runcRuns(): number {
    return existsSync(this.runcLog) ? readFileSync(this.runcLog, 'utf8').split('\n').filter(Boolean).length : 0;
  }

  /** Leftovers a crash-safe store must never have after a build ends, failed or not. */
  storeLeftovers(): string[] {
    const found: string[] = [];
    const ingest = join(this.root, 'content', 'ingest');
    if (existsSync(ingest)) found.push(...readdirSync(ingest).map((f) => `content/ingest/${f}`));
    const mounts = readFileSync('/proc/self/mounts', 'utf8').split('\n').filter((l) => l.includes(this.root));
    found.push(...mounts.map((m) => `mount: ${m}`));
    const walk = (d: string, rel: string) => {
      for (const e of readdirSync(d, { withFileTypes: true })) {
        if (e.name.includes('.tmp-')) found.push(`${rel}${e.name}`);
        if (e.isDirectory() && !rel.startsWith('snapshots/') && rel.split('/').length < 4) walk(join(d, e.name), `${rel}${e.name}/`);
      }
    };
    if (existsSync(this.root)) walk(this.root, '');
    return found;
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Unpack an OCI archive with umoci (an independent tool) and return the rootfs path. */
export function umociUnpack(sb: Sandbox, archive: string, tag: string): string {
  const layout = join(sb.dir, 'layout-' + Math.random().toString(16).slice(2));
  const bundle = layout + '-bundle';
  execFileSync('mkdir', ['-p', layout]);
  execFileSync('tar', ['-xf', archive, '-C', layout]);
  execFileSync('umoci', ['unpack', '--image', `${layout}:${tag}`, bundle], { stdio: 'pipe' });
  return join(bundle, 'rootfs');
}

export function skopeoInspect(archive: string): { Layers: string[]; Digest: string; Env?: string[] } & Record<string, unknown> {
  return JSON.parse(execFileSync('skopeo', ['inspect', `oci-archive:${archive}`]).toString());
}

export function skopeoInspectConfig(archive: string): Record<string, any> {
  return JSON.parse(execFileSync('skopeo', ['inspect', '--config', `oci-archive:${archive}`]).toString());
}

/** Every regular file, dir and symlink under `dir`, as sorted relative paths (dirs end with /). */
export function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const r = rel + e.name;
      if (e.isDirectory()) {
        out.push(r + '/');
        walk(join(d, e.name), r + '/');
      } else out.push(r);
    }
  };
  walk(dir, '');
  return out.sort();
}

/**
 * A stand-in Docker daemon on the unix socket `sock` (for --load): it answers `/_ping` and keeps the
 * archive a `POST /images/load` sends; `archive()` is what it received, `close()` stops it.
 */
export async function standInDockerDaemon(sock: string): Promise<{ archive: () => Buffer; close: () => void }> {
  const got: Buffer[] = [];
  const server = createServer((req, res) => {
    if (req.url === '/_ping') return res.end('OK');
    if (req.method === 'POST' && req.url?.startsWith('/images/load')) {
      req.on('data', (c: Buffer) => got.push(c));
      req.on('end', () => res.end('{"stream":"Loaded image\\n"}'));
      return;
    }
    res.statusCode = 404;
    res.end();
  });
  await new Promise<void>((r) => server.listen(sock, () => r()));
  return { archive: () => Buffer.concat(got), close: () => server.close() };
}
