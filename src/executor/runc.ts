import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { join, posix, resolve } from 'node:path';
import { constants as osConstants } from 'node:os';
import { SandboxError } from '../errors.js';
import { resolveUser, type ResolvedUser } from '../fsutil/passwd.js';
import { mountAll } from '../snapshot/mount.js';
import { helperSpawn, startHelper } from '../proc/helper.js';
import { inUserNamespace } from '../proc/userns.js';
import type { Mount } from '../snapshot/types.js';
import { detectCgroupSupport, oomKills, pidsLimitHits, type CgroupSupport } from './cgroup.js';
import { unmountAll } from './mountpoint.js';
import { ID_PREFIX, runcCmd, runcError, runtimeNotFound } from './runc-cli.js';
import { detectNofileLimit } from './rlimit.js';
import { boundingCapabilities } from './capabilities.js';
import { buildRuntimeSpec, DEFAULT_HOSTNAME, DEFAULT_PIDS_LIMIT, hostsFileContent, STUB_DIRS, STUB_FILES, type OciMount } from './spec.js';
import { makeSecretDir, removeSecretDir, writeSecretFile } from './secretdir.js';
import { SLIRP_DNS, SlirpNetwork, slirpAvailable } from './slirp.js';
import { createStubs, ensureWorkdir, removeStubs, type StubRecord } from './stubs.js';
import { isEmptyDir, plainKind, RootfsFactsMemo, writableOverlay, type RootfsFacts } from './rootfs-facts.js';
export { cleanupStaleContainers } from './stale.js';
import type { Executor, NetworkMode, ProcessSpec, ResourceLimits, RunOptions, RunResult } from './types.js';

/** What runContainer uses of its `runc run` process: our ChildProcess, or the helper's (src/proc/helper.ts). */
interface Spawned {
  readonly stdout: { on(event: 'data', listener: (c: Buffer) => void): unknown };
  readonly stderr: { on(event: 'data', listener: (c: Buffer) => void): unknown };
  readonly exitCode: number | null;
  readonly signalCode: NodeJS.Signals | null;
  on(event: 'error', listener: (err: NodeJS.ErrnoException) => void): unknown;
  on(event: 'close', listener: (code: number | null, sig: NodeJS.Signals | null) => void): unknown;
  once(event: 'close', listener: () => void): unknown;
  kill(sig?: NodeJS.Signals): boolean;
}

/** How long to wait for runc to exit after SIGKILL of the container before killing runc itself. */
const KILL_GRACE_MS = 5000;

export interface RuncExecutorOptions {
  /** Private state: bundles under <stateDir>/bundles, runc's state under <stateDir>/runc. */
  stateDir: string;
  /** The OCI runtime binary. Default 'runc'. */
  runtime?: string;
  /**
   * What a step's `default` network is: 'auto' (default) = 'sandbox' when slirp4netns is installed,
   * else 'host'; or a fixed mode (the build's --network).
   */
  defaultNetwork?: 'auto' | 'sandbox' | 'host' | 'none';
  /** Extra /etc/hosts entries of every step (`--add-host NAME:IP`). */
  extraHosts?: { host: string; ip: string }[];
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
  private readonly defaultNetwork: 'auto' | 'sandbox' | 'host' | 'none';
  private readonly extraHosts: { host: string; ip: string }[];
  private slirp?: SlirpNetwork;
  private readonly facts = new RootfsFactsMemo();
  /** Cleared when the runtime refuses to mount the rootfs itself (then every step mounts on the host). */
  private innerMounts = true;

  constructor(opts: RuncExecutorOptions) {
    // Absolute: runc resolves a relative rootfs against the bundle, and mountinfo lists absolute paths.
    this.stateDir = resolve(opts.stateDir);
    this.runtime = opts.runtime ?? 'runc';
    this.defaultNetwork = opts.defaultNetwork ?? 'auto';
    this.extraHosts = opts.extraHosts ?? [];
  }

  private get runcRoot(): string {
    return join(this.stateDir, 'runc');
  }

  async run(rootfs: Mount[], proc: ProcessSpec, opts: RunOptions = {}): Promise<RunResult> {
    const signal = opts.signal;
    signal?.throwIfAborted();
    startHelper(); // it starts `runc run` (helperSpawn): started now, it is up by then
    const id = `${ID_PREFIX}${process.pid}-${randomBytes(6).toString('hex')}`;
    const bundle = join(this.stateDir, 'bundles', id);
    const rootDir = join(bundle, 'rootfs');
    const limits = opts.limits ?? {};
    const cg = await detectCgroupSupport();
    checkLimits(limits, cg);
    // The sandbox network (started on first use) comes up while the rootfs is prepared.
    const networkReady = this.network(opts.network);
    networkReady.catch(() => {}); // awaited below; a rejection before that point is not unhandled
    const cwd = posix.resolve('/', proc.cwd || '/');
    // A fresh overlay whose answers (user, cwd, mount points) are known from an earlier step needs no
    // mount on the host: runc mounts it in the container's own mount namespace (rootfs-facts.ts).
    const ov = writableOverlay(rootfs);
    const fresh = ov !== undefined && (await isEmptyDir(ov.upper));
    const facts = fresh ? await this.facts.lookup(ov.lowers) : undefined;
    await mkdir(rootDir, { recursive: true });
    let mounted = false;
    let stubs: StubRecord | undefined;
    let secretDir: string | undefined;
    let result: RunResult;
    try {
      const extra = opts.mounts ?? [];
      const secretEnv = opts.secretEnv ?? [];
      if (secretEnv.length > 0 || extra.some((m) => m.type === 'secret')) secretDir = await makeSecretDir(id);
      const extraMounts: OciMount[] = [];
      const stubFiles = [...STUB_FILES];
      const stubDirs = [...STUB_DIRS];
      for (const [i, m] of extra.entries()) {
        const dest = posix.resolve('/', m.destination);
        if (m.type === 'tmpfs') {
          stubDirs.push(dest);
          extraMounts.push({ destination: dest, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', ...(m.sizeBytes ? [`size=${m.sizeBytes}`] : [])] });
        } else if (m.type === 'secret') {
          stubFiles.push(dest);
          const file = await writeSecretFile(secretDir!, `s${i}`, m.data, m.mode, m.uid, m.gid);
          extraMounts.push({ destination: dest, type: 'bind', source: file, options: ['rbind', 'ro', 'nosuid', 'nodev', 'noexec'] });
        } else {
          const isDir = (await stat(m.source)).isDirectory();
          (isDir ? stubDirs : stubFiles).push(dest);
          extraMounts.push({ destination: dest, type: 'bind', source: m.source, options: ['rbind', m.readonly ? 'ro' : 'rw'] });
        }
      }
      let user = facts?.users.get(proc.user);
      const inner =
        this.innerMounts &&
        user !== undefined &&
        (cwd === '/' || facts!.paths.get(cwd) === 'dir') &&
        [...stubFiles, ...stubDirs].every((p) => (facts!.paths.get(p) ?? 'absent') !== 'absent');
      if (!inner) {
        mounted = true; // set first: a partly done mountAll must be undone too (unmount tolerates "not mounted")
        await mountAll(rootfs, rootDir);
        user = await resolveUser(rootDir, proc.user);
        if (fresh) await this.facts.record(ov.lowers, await readFacts(rootDir, proc.user, user, [cwd, ...stubFiles, ...stubDirs]));
        await ensureWorkdir(rootDir, cwd, user.uid, user.gid);
        stubs = await createStubs(rootDir, { files: stubFiles, dirs: stubDirs });
        if (stubs.created.length > 0) await writeFile(join(bundle, 'stubs.json'), JSON.stringify(stubs));
      }

      const network = await networkReady;
      const hostname = opts.hostname ?? DEFAULT_HOSTNAME;
      const hostsFile = join(bundle, 'hosts');
      const resolvConfFile = join(bundle, 'resolv.conf');
      await writeFile(hostsFile, hostsFileContent(hostname, this.extraHosts));
      await writeFile(resolvConfFile, await resolvConf(network.mode));
      const cgroupsPath = limits.cgroupParent ? posix.join(limits.cgroupParent, `tsbuild-${id}`) : `tsbuild-${id}`;
      // Rootless without delegated controllers: no cgroup at all (runc only tolerates that without a path).
      const useCgroup = !inUserNamespace() || cg.pids || cg.memory || cg.cpu;
      const pidsLimit = limits.pidsLimit ?? DEFAULT_PIDS_LIMIT;
      const spec = buildRuntimeSpec({
        rootfs: rootDir,
        ...(inner ? { rootfsMount: { destination: '/', type: 'overlay', source: 'overlay', options: ov!.options } } : {}),
        args: proc.args,
        env: [...proc.env, ...secretEnv],
        cwd,
        user: user!,
        hostname,
        network: network.mode === 'sandbox' ? 'path' : network.mode,
        ...(network.path ? { networkNamespacePath: network.path } : {}),
        hostsFile,
        resolvConfFile,
        ...(useCgroup ? { cgroupsPath } : {}),
        ...(cg.pids ? { pidsLimit } : {}),
        nofile: await detectNofileLimit(),
        limits,
        extraMounts,
        ...(inUserNamespace() && network.mode === 'host' ? { bindSys: true } : {}),
        ...(opts.security === 'insecure' ? { insecure: { capabilities: await boundingCapabilities() } } : {}),
      });
      // A spec with secret values in it is written to the private tmpfs dir, never into the store.
      const specDir = secretEnv.length > 0 ? secretDir! : bundle;
      await writeFile(join(specDir, 'config.json'), JSON.stringify(spec), { mode: 0o600 });
      signal?.throwIfAborted();
      // With a limit asked for, the container is kept after it exits so its cgroup's counters can be read.
      const keep = limits.memoryBytes !== undefined || (limits.pidsLimit !== undefined && cg.pids);
      try {
        result = await this.runContainer(id, specDir, bundle, opts, keep);
      } catch (err) {
        // A runtime that will not mount the rootfs over "/" (some runc versions refuse a mount on top of
        // the rootfs) fails before the step's process starts: run the step again the host-mount way.
        if (!inner || !(err instanceof SandboxError) || err.code !== 'RUNTIME_FAILED' || !/unable to start container process/.test(err.message)) throw err;
        this.innerMounts = false;
        await this.teardown(id, bundle, rootDir, mounted, stubs, secretDir);
        return await this.run(rootfs, proc, opts);
      }
      if (limits.memoryBytes !== undefined && (await oomKills(cg, cgroupsPath)) > 0) result = { ...result, oomKilled: { limitBytes: limits.memoryBytes } };
      if (limits.pidsLimit !== undefined && cg.pids && (await pidsLimitHits(cg, cgroupsPath)) > 0) result = { ...result, pidsLimitHit: { limit: pidsLimit } };
    } catch (err) {
      // The step's own failure wins over a cleanup failure.
      await this.teardown(id, bundle, rootDir, mounted, stubs, secretDir).catch(() => {});
      throw err;
    }
    await this.teardown(id, bundle, rootDir, mounted, stubs, secretDir);
    return result;
  }

  /** Release the shared sandbox network, if one was started. */
  async close(): Promise<void> {
    await this.slirp?.close();
  }

  private async network(requested: NetworkMode = 'default'): Promise<{ mode: 'host' | 'none' | 'sandbox'; path?: string }> {
    let mode = requested === 'default' ? this.defaultNetwork : requested;
    if (mode === 'auto') mode = (await slirpAvailable()) ? 'sandbox' : 'host';
    if (mode !== 'sandbox') return { mode };
    if (!(await slirpAvailable())) {
      throw new SandboxError('NETWORK_UNAVAILABLE', 'the sandbox network needs slirp4netns and unshare, which are not installed', {
        hint: 'apt-get install slirp4netns, or build with --network host or --network none',
      });
    }
    this.slirp ??= new SlirpNetwork();
    return { mode, path: await this.slirp.namespacePath() };
  }

  private runContainer(id: string, specDir: string, bundle: string, opts: RunOptions, keep: boolean): Promise<RunResult> {
    const signal = opts.signal;
    return new Promise<RunResult>((resolve, reject) => {
      const logFile = join(bundle, 'runc.log');
      // --no-new-keyring: the seccomp profile denies every keyring call, so a session keyring per step buys nothing.
      const runArgs = ['run', '--no-new-keyring', ...(keep ? ['--keep'] : []), '--bundle', specDir, id];
      // In a user namespace (rootless build) runc must not insist on cgroups it cannot create.
      const rootless = inUserNamespace() ? ['--rootless', 'true'] : [];
      const argv = ['--root', this.runcRoot, ...rootless, '--log', logFile, '--log-format', 'json', ...runArgs];
      // a child of the system call helper when it runs (no fork of this process), else our own
      const child: Spawned = helperSpawn(this.runtime, argv) ?? spawn(this.runtime, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
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
  private async killContainer(id: string, child: Spawned): Promise<void> {
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

  private async teardown(id: string, bundle: string, rootDir: string, mounted: boolean, stubs?: StubRecord, secretDir?: string): Promise<void> {
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
    // The rootfs dir is empty now (unmounted, or never mounted on the host): rmdir proves it before the
    // bundle is removed recursively.
    if (unmounted) await step(async () => {
      await rmdir(rootDir).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
      });
      await rm(bundle, { recursive: true, force: true });
    });
    if (secretDir) await step(() => removeSecretDir(secretDir));
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


/** A limit the host cannot apply is an error, never silently ignored. */
function checkLimits(limits: ResourceLimits, cg: CgroupSupport): void {
  const missing = (flag: string, controller: string) =>
    new SandboxError('LIMIT_UNSUPPORTED', `${flag} needs the ${controller} cgroup controller, which tsbuild cannot use here (cgroup v${cg.version})`, {
      hint: cg.version === 2 ? `delegate the ${controller} controller to tsbuild's cgroup (cgroup.subtree_control), or drop ${flag}` : `run tsbuild as root with a writable ${controller} cgroup, or drop ${flag}`,
    });
  if (limits.memoryBytes !== undefined && !cg.memory) throw missing('--memory', 'memory');
  if (limits.cpuQuota !== undefined && !cg.cpu) throw missing('--cpu-quota/--cpus', 'cpu');
  if (limits.pidsLimit !== undefined && !cg.pids) throw missing('--pids-limit', 'pids');
  if (limits.cgroupParent !== undefined && inUserNamespace() && !cg.pids && !cg.memory && !cg.cpu) {
    throw new SandboxError('LIMIT_UNSUPPORTED', '--cgroup-parent needs cgroups delegated to this user; a rootless build here has none', {
      hint: 'drop --cgroup-parent, or run tsbuild as root',
    });
  }
}

async function resolvConf(mode: 'host' | 'none' | 'sandbox'): Promise<string> {
  if (mode === 'none') return '';
  const host = await readFile('/etc/resolv.conf', 'utf8').catch(() => '');
  if (mode === 'host') return host;
  // The sandbox reaches DNS through slirp4netns's forwarder; keep the host's search domains.
  const keep = host.split('\n').filter((l) => /^\s*(search|domain|options)\b/.test(l));
  return [`nameserver ${SLIRP_DNS}`, ...keep, ''].join('\n');
}

/** The facts a mounted fresh rootfs shows for `user` and `paths` (before stubs or the cwd are created). */
async function readFacts(rootDir: string, userSpec: string, user: ResolvedUser, paths: string[]): Promise<RootfsFacts> {
  const facts: RootfsFacts = { users: new Map(), paths: new Map() };
  for (const p of paths) {
    const kind = await plainKind(rootDir, p);
    if (kind !== undefined) facts.paths.set(p, kind);
  }
  if ((await plainKind(rootDir, '/etc/passwd')) !== undefined && (await plainKind(rootDir, '/etc/group')) !== undefined) facts.users.set(userSpec, user);
  return facts;
}
