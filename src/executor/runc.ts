import { spawn, execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { constants as osConstants } from 'node:os';
import { SandboxError } from '../errors.js';
import { resolveUser } from '../fsutil/passwd.js';
import { mountAll, unmount } from '../snapshot/mount.js';
import type { Mount } from '../snapshot/types.js';
import { detectCgroupSupport } from './cgroup.js';
import { buildRuntimeSpec, DEFAULT_HOSTNAME, DEFAULT_PIDS_LIMIT, hostsFileContent, STUB_DIRS, STUB_FILES } from './spec.js';
import { createStubs, ensureWorkdir, removeStubs, type StubRecord } from './stubs.js';
import type { Executor, ProcessSpec, RunOptions, RunResult } from './types.js';

/** Container ids are `tsb-<pid of the tsbuild process>-<random>`; cleanup uses the pid to spare live builds. */
const ID_PREFIX = 'tsb-';
/** How long to wait for runc to exit after SIGKILL of the container before killing runc itself. */
const KILL_GRACE_MS = 5000;

export interface RuncExecutorOptions {
  /** Private state: bundles under <stateDir>/bundles, runc's state under <stateDir>/runc. */
  stateDir: string;
  /** The OCI runtime binary. Default 'runc'. */
  runtime?: string;
}

/**
 * Executor on runc. One `run` = one container: bundle dir, rootfs mounted at bundle/rootfs, stubs for
 * mount points, config.json, `runc run` in the foreground (stdin /dev/null, stdout/stderr piped), then
 * teardown (container state, stubs, mount, bundle) on every path.
 *
 * Abort: the container is killed (SIGKILL to its init; the pid namespace takes every other process of
 * the step with it), torn down, and `run` rejects with `signal.reason`.
 * Exit status: runc reports a step killed by signal n as 128+n (as Docker does), so `signal` is named
 * for 129..159; an explicit `exit 137` looks the same.
 */
export class RuncExecutor implements Executor {
  private readonly stateDir: string;
  private readonly runtime: string;

  constructor(opts: RuncExecutorOptions) {
    this.stateDir = opts.stateDir;
    this.runtime = opts.runtime ?? 'runc';
  }

  private get runcRoot(): string {
    return join(this.stateDir, 'runc');
  }

  async run(rootfs: Mount[], proc: ProcessSpec, opts: RunOptions = {}): Promise<RunResult> {
    const signal = opts.signal;
    signal?.throwIfAborted();
    const id = `${ID_PREFIX}${process.pid}-${randomBytes(6).toString('hex')}`;
    const bundle = join(this.stateDir, 'bundles', id);
    const rootDir = join(bundle, 'rootfs');
    await mkdir(rootDir, { recursive: true });
    let mounted = false;
    let stubs: StubRecord | undefined;
    try {
      await mountAll(rootfs, rootDir);
      mounted = true;
      const user = await resolveUser(rootDir, proc.user);
      await ensureWorkdir(rootDir, proc.cwd, user.uid, user.gid);
      stubs = await createStubs(rootDir, { files: STUB_FILES, dirs: STUB_DIRS });
      await writeFile(join(bundle, 'stubs.json'), JSON.stringify(stubs));

      const hostname = opts.hostname ?? DEFAULT_HOSTNAME;
      const network = opts.network ?? 'default';
      const hostsFile = join(bundle, 'hosts');
      const resolvConfFile = join(bundle, 'resolv.conf');
      await writeFile(hostsFile, hostsFileContent(hostname));
      await writeFile(resolvConfFile, network === 'none' ? '' : await readFile('/etc/resolv.conf').catch(() => ''));
      const cg = await detectCgroupSupport();
      const spec = buildRuntimeSpec({
        rootfs: rootDir,
        args: proc.args,
        env: proc.env,
        cwd: proc.cwd,
        user,
        hostname,
        network,
        hostsFile,
        resolvConfFile,
        cgroupsPath: `tsbuild-${id}`,
        ...(cg.pids ? { pidsLimit: DEFAULT_PIDS_LIMIT } : {}),
      });
      await writeFile(join(bundle, 'config.json'), JSON.stringify(spec));
      signal?.throwIfAborted();
      return await this.runContainer(id, bundle, opts);
    } finally {
      await this.teardown(id, bundle, rootDir, mounted, stubs);
    }
  }

  private runContainer(id: string, bundle: string, opts: RunOptions): Promise<RunResult> {
    const signal = opts.signal;
    return new Promise<RunResult>((resolve, reject) => {
      const child = spawn(this.runtime, ['--root', this.runcRoot, 'run', '--bundle', bundle, id], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let aborted = false;
      let stderrTail = '';
      child.stdout.on('data', (c: Buffer) => opts.onStdout?.(c));
      child.stderr.on('data', (c: Buffer) => {
        stderrTail = (stderrTail + c.toString('utf8')).slice(-4000);
        opts.onStderr?.(c);
      });
      const onAbort = () => {
        aborted = true;
        void this.killContainer(id, child);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      child.on('error', (err: NodeJS.ErrnoException) => {
        signal?.removeEventListener('abort', onAbort);
        if (err.code === 'ENOENT') {
          reject(
            new SandboxError('RUNTIME_NOT_FOUND', `OCI runtime "${this.runtime}" not found`, {
              cause: err,
              hint: 'apt-get install runc',
            }),
          );
        } else {
          reject(new SandboxError('RUNTIME_FAILED', `cannot start ${this.runtime}: ${err.message}`, { cause: err }));
        }
      });
      child.on('close', (code, sig) => {
        signal?.removeEventListener('abort', onAbort);
        if (aborted) {
          reject(signal?.reason ?? new Error('aborted'));
          return;
        }
        if (code === null) {
          const n = sig ? osConstants.signals[sig] : undefined;
          resolve({ exitCode: n ? 128 + n : 255, ...(sig ? { signal: sig } : {}) });
          return;
        }
        if (isRuncFailure(code, stderrTail)) {
          reject(new SandboxError('RUNTIME_FAILED', `${this.runtime} failed to run the step: ${lastLine(stderrTail)}`));
          return;
        }
        const name = code > 128 && code < 160 ? signalName(code - 128) : undefined;
        resolve({ exitCode: code, ...(name ? { signal: name } : {}) });
      });
    });
  }

  /** SIGKILL the container; if `runc run` then hangs, kill runc itself (teardown deletes the rest). */
  private async killContainer(id: string, child: ReturnType<typeof spawn>): Promise<void> {
    const deadline = Date.now() + KILL_GRACE_MS;
    while (child.exitCode === null && child.signalCode === null && Date.now() < deadline) {
      // Fails while the container is still being created; retry until it exists or runc exits.
      const ok = await this.runc(['kill', id, 'KILL']).then(
        () => true,
        () => false,
      );
      if (ok) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const exited = new Promise<void>((r) => {
      if (child.exitCode !== null || child.signalCode !== null) r();
      else child.once('close', () => r());
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), Math.max(0, deadline - Date.now()));
    await exited;
    clearTimeout(timer);
  }

  private async teardown(id: string, bundle: string, rootDir: string, mounted: boolean, stubs?: StubRecord): Promise<void> {
    const errors: unknown[] = [];
    const step = async (fn: () => Promise<unknown>) => {
      try {
        await fn();
      } catch (err) {
        errors.push(err);
      }
    };
    await step(() => deleteIfPresent(this.runtime, this.runcRoot, id));
    if (mounted) {
      if (stubs) await step(() => removeStubs(rootDir, stubs));
      await step(() => unmount(rootDir).catch(() => unmount(rootDir, { lazy: true })));
    }
    await step(() => rm(bundle, { recursive: true, force: true }));
    if (errors.length > 0) {
      const first = errors[0];
      throw new SandboxError('TEARDOWN_FAILED', `cleaning up step sandbox ${id} failed: ${String((first as Error)?.message ?? first)}`, {
        cause: first,
      });
    }
  }

  private runc(args: string[]): Promise<string> {
    return runcCmd(this.runtime, this.runcRoot, args);
  }
}

function runcCmd(runtime: string, root: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(runtime, ['--root', root, ...args], (err, stdout, stderr) => {
      if (err) reject(Object.assign(err, { stderr: String(stderr) }));
      else resolve(String(stdout));
    });
  });
}

/** `runc delete -f` when runc still has state for `id`. */
async function deleteIfPresent(runtime: string, root: string, id: string): Promise<void> {
  try {
    await runcCmd(runtime, root, ['state', id]);
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return;
    return; // no such container
  }
  await runcCmd(runtime, root, ['delete', '-f', id]);
}

/**
 * Remove what killed builds left under `stateDir`: runc containers, stubs in still-mounted rootfses,
 * mounts and bundle dirs. Containers of tsbuild processes that are still alive are left alone.
 */
export async function cleanupStaleContainers(stateDir: string, opts: { runtime?: string } = {}): Promise<void> {
  const runtime = opts.runtime ?? 'runc';
  const root = join(stateDir, 'runc');
  const stale = (id: string) => id.startsWith(ID_PREFIX) && !pidAlive(Number(id.slice(ID_PREFIX.length).split('-')[0]));
  let listed: { id: string }[] = [];
  try {
    listed = JSON.parse((await runcCmd(runtime, root, ['list', '--format', 'json'])) || 'null') ?? [];
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') {
      throw new SandboxError('RUNTIME_NOT_FOUND', `OCI runtime "${runtime}" not found`, { cause: err, hint: 'apt-get install runc' });
    }
  }
  for (const c of listed) if (stale(c.id)) await runcCmd(runtime, root, ['delete', '-f', c.id]).catch(() => {});

  const bundles = join(stateDir, 'bundles');
  const { readdir } = await import('node:fs/promises');
  const names = await readdir(bundles).catch(() => [] as string[]);
  const mounts = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  for (const name of names) {
    if (!stale(name)) continue;
    const rootDir = join(bundles, name, 'rootfs');
    if (isMountPoint(mounts, rootDir)) {
      const record = await readFile(join(bundles, name, 'stubs.json'), 'utf8').then(
        (t) => JSON.parse(t) as StubRecord,
        () => undefined,
      );
      if (record) await removeStubs(rootDir, record).catch(() => {});
      await unmount(rootDir).catch(() => unmount(rootDir, { lazy: true }));
    }
    await rm(join(bundles, name), { recursive: true, force: true });
  }
}

function isMountPoint(mountinfo: string, path: string): boolean {
  // Field 5 of mountinfo is the mount point, with spaces etc. octal-escaped.
  const esc = path.replace(/[ \t\n\\]/g, (c) => '\\' + c.charCodeAt(0).toString(8).padStart(3, '0'));
  return mountinfo.split('\n').some((l) => l.split(' ')[4] === esc);
}

function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === 'EPERM';
  }
}

function signalName(n: number): string | undefined {
  for (const [name, num] of Object.entries(osConstants.signals)) if (num === n) return name;
  return undefined;
}

/**
 * runc exits 1 both when the step exits 1 and when runc itself fails (bad spec, mount error). runc
 * marks its own failures with a level=error log line on stderr.
 */
function isRuncFailure(code: number, stderr: string): boolean {
  return code !== 0 && /(^|\n)(time="[^"]*" )?level=(error|fatal) msg=/.test(stderr) && /runc run failed|container_linux|process_linux|rootfs_linux|unable to start|OCI runtime/i.test(stderr);
}

function lastLine(s: string): string {
  const lines = s.trim().split('\n');
  return lines[lines.length - 1] ?? '';
}
