import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { constants as osConstants } from 'node:os';
import { SandboxError } from '../errors.js';
import { resolveUser } from '../fsutil/passwd.js';
import { mountAll } from '../snapshot/mount.js';
import type { Mount } from '../snapshot/types.js';
import { detectCgroupSupport } from './cgroup.js';
import { unmountAll } from './mountpoint.js';
import { ID_PREFIX, runcCmd, runcError, runtimeNotFound } from './runc-cli.js';
import { detectNofileLimit } from './rlimit.js';
import { buildRuntimeSpec, DEFAULT_HOSTNAME, DEFAULT_PIDS_LIMIT, hostsFileContent, STUB_DIRS, STUB_FILES } from './spec.js';
import { createStubs, ensureWorkdir, removeStubs, type StubRecord } from './stubs.js';
export { cleanupStaleContainers } from './stale.js';
import type { Executor, ProcessSpec, RunOptions, RunResult } from './types.js';

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
    let result: RunResult;
    try {
      mounted = true; // set first: a partly done mountAll must be undone too (unmount tolerates "not mounted")
      await mountAll(rootfs, rootDir);
      const user = await resolveUser(rootDir, proc.user);
      const cwd = posix.resolve('/', proc.cwd || '/');
      await ensureWorkdir(rootDir, cwd, user.uid, user.gid);
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
        cwd,
        user,
        hostname,
        network,
        hostsFile,
        resolvConfFile,
        cgroupsPath: `tsbuild-${id}`,
        ...(cg.pids ? { pidsLimit: DEFAULT_PIDS_LIMIT } : {}),
        nofile: await detectNofileLimit(),
      });
      await writeFile(join(bundle, 'config.json'), JSON.stringify(spec));
      signal?.throwIfAborted();
      result = await this.runContainer(id, bundle, opts);
    } catch (err) {
      // The step's own failure wins over a cleanup failure.
      await this.teardown(id, bundle, rootDir, mounted, stubs).catch(() => {});
      throw err;
    }
    await this.teardown(id, bundle, rootDir, mounted, stubs);
    return result;
  }

  private runContainer(id: string, bundle: string, opts: RunOptions): Promise<RunResult> {
    const signal = opts.signal;
    return new Promise<RunResult>((resolve, reject) => {
      const logFile = join(bundle, 'runc.log');
      const child = spawn(this.runtime, ['--root', this.runcRoot, '--log', logFile, '--log-format', 'json', 'run', '--bundle', bundle, id], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let aborted = false;
      child.stdout.on('data', (c: Buffer) => opts.onStdout?.(c));
      child.stderr.on('data', (c: Buffer) => opts.onStderr?.(c));
      const onAbort = () => {
        aborted = true;
        void this.killContainer(id, child);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      child.on('error', (err: NodeJS.ErrnoException) => {
        signal?.removeEventListener('abort', onAbort);
        if (err.code === 'ENOENT') {
          reject(runtimeNotFound(this.runtime, err));
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
        void runcError(logFile).then((msg) => {
          if (code !== 0 && msg !== undefined) {
            // runc itself failed (bad spec, mount error, or the command could not be started).
            const notStarted = /unable to start container process: exec/.test(msg);
            reject(
              new SandboxError(notStarted ? 'EXEC_START_FAILED' : 'RUNTIME_FAILED', `${this.runtime} run failed: ${msg}`),
            );
            return;
          }
          const name = code > 128 && code < 160 ? signalName(code - 128) : undefined;
          resolve({ exitCode: code, ...(name ? { signal: name } : {}) });
        });
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
    let unmounted = true;
    if (mounted) {
      if (stubs) await step(() => removeStubs(rootDir, stubs));
      const before = errors.length;
      await step(() => unmountAll(rootDir));
      unmounted = errors.length === before;
    }
    // Never recurse into a rootfs that may still be mounted: that would delete the snapshot's files.
    // A bundle left behind is removed by cleanupStaleContainers once this process is gone.
    if (unmounted) await step(() => rm(bundle, { recursive: true, force: true }));
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

/**
 * `runc delete -f` when runc still has state for `id`. `runc run` deletes its container when the
 * step ends, so this is normally a stat of runc's state dir (<root>/<id>), not a process.
 */
async function deleteIfPresent(runtime: string, root: string, id: string): Promise<void> {
  const present = await stat(join(root, id)).then(
    () => true,
    () => false,
  );
  if (present) await runcCmd(runtime, root, ['delete', '-f', id]);
}

function signalName(n: number): string | undefined {
  for (const [name, num] of Object.entries(osConstants.signals)) if (num === n) return name;
  return undefined;
}

