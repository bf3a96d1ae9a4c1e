/**
 * Turns the sandbox flags into what the solver and executor take: secret values read from files or
 * the environment (kept in memory only), SSH agent sockets (a private `ssh-agent` is started for
 * key files), the cache-mount dir, limits, and the executor's default network.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import { lstat, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ContextError, UsageError } from '../errors.js';
import type { SandboxArgs } from './sandbox-args.js';

const run = promisify(execFile);

export interface SandboxSetup {
  secrets: Record<string, Buffer>;
  ssh: Record<string, string>;
  defaultNetwork: 'auto' | 'host' | 'none';
  close(): Promise<void>;
}

export async function setupSandbox(args: SandboxArgs): Promise<SandboxSetup> {
  const secrets: Record<string, Buffer> = {};
  for (const s of args.secrets) {
    // buildx: `id=x` alone reads the environment variable x when it is set, else the file x.
    const src = s.src ?? (s.env === undefined && process.env[s.id] === undefined ? s.id : undefined);
    if (src !== undefined) {
      try {
        secrets[s.id] = await readFile(src);
      } catch (err) {
        const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
        if (s.src === undefined) {
          throw new UsageError(`--secret id=${s.id}: no environment variable ${s.id} and no file ${src} (${why})`, { hint: `name the source: --secret id=${s.id},src=FILE or --secret id=${s.id},env=VAR` });
        }
        throw new ContextError('SECRET_UNREADABLE', `--secret id=${s.id}: cannot read ${src}: ${why}`);
      }
    } else {
      const name = s.env ?? s.id;
      const v = process.env[name];
      if (v === undefined) throw new UsageError(`--secret id=${s.id}: environment variable ${name} is not set`, { hint: `use --secret id=${s.id},src=FILE for a file` });
      secrets[s.id] = Buffer.from(v);
    }
  }
  const agents: ChildProcess[] = [];
  const dirs: string[] = [];
  const close = async () => {
    for (const a of agents) a.stdin?.end();
    for (const d of dirs) await rm(d, { recursive: true, force: true }).catch(() => {});
  };
  const ssh: Record<string, string> = {};
  try {
    for (const f of args.ssh) {
      if (f.paths.length === 0) {
        const sock = process.env.SSH_AUTH_SOCK;
        if (!sock) throw new UsageError(`--ssh ${f.id}: SSH_AUTH_SOCK is not set`, { hint: `start an agent, or give a key: --ssh ${f.id}=~/.ssh/id_ed25519` });
        ssh[f.id] = sock;
        continue;
      }
      const kinds = await Promise.all(f.paths.map((p) => stat(p).then((st) => (st.isSocket() ? 'socket' : 'file'), () => 'missing')));
      const missing = f.paths.find((_, i) => kinds[i] === 'missing');
      if (missing) throw new UsageError(`--ssh ${f.id}: ${missing} does not exist`);
      if (kinds.length === 1 && kinds[0] === 'socket') {
        ssh[f.id] = f.paths[0]!;
        continue;
      }
      if (kinds.includes('socket')) throw new UsageError(`--ssh ${f.id}: give either one agent socket or key files, not both`);
      ssh[f.id] = await startAgent(f.paths, agents, dirs);
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { secrets, ssh, defaultNetwork: args.network === 'default' ? 'auto' : args.network, close };
}

/**
 * The private agents' dirs (`$TMPDIR/tsbuild-ssh-<pid>-XXXXXX`, holding `agent.sock`) of processes that are
 * no longer `alive`: a SIGKILLed build's agent dies with it (see startAgent) but its dir stays; crash
 * recovery (recover.ts) removes it. Only dirs of this uid, named so, with nothing but the socket.
 */
export async function removeDeadSshDirs(alive: (pid: number) => boolean, dir = tmpdir()): Promise<number> {
  let removed = 0;
  const uid = process.getuid?.();
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const pid = Number(/^tsbuild-ssh-(\d+)-[A-Za-z0-9]{6}$/.exec(name)?.[1]);
    if (!pid || alive(pid)) continue;
    const path = join(dir, name);
    const st = await lstat(path).catch(() => undefined);
    if (!st?.isDirectory() || (uid !== undefined && st.uid !== uid)) continue;
    const inside = await readdir(path).catch(() => ['?']);
    if (inside.some((n) => n !== 'agent.sock')) continue;
    await rm(path, { recursive: true, force: true }).then(() => removed++, () => {});
  }
  return removed;
}

/** A private ssh-agent (openssh-client) holding `keys`; killed by close(). */
async function startAgent(keys: string[], agents: ChildProcess[], dirs: string[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `tsbuild-ssh-${process.pid}-`));
  dirs.push(dir);
  const sock = join(dir, 'agent.sock');
  // The agent lives as long as a pipe held by tsbuild: when tsbuild exits, even by SIGKILL, `read`
  // returns and the agent is killed, so no agent holding the user's keys is left behind.
  // Own session (detached): a Ctrl-C for the terminal's process group does not orphan the agent.
  const agent = spawn('sh', ['-c', 'ssh-agent -D -a "$1" & a=$!; trap "kill $a; wait $a; exit" EXIT HUP INT TERM; read _', 'sh', sock], {
    stdio: ['pipe', 'ignore', 'ignore'],
    detached: true,
  });
  agents.push(agent);
  agent.unref();
  (agent.stdin as unknown as { unref?: () => void }).unref?.();
  await new Promise<void>((resolve, reject) => {
    agent.once('error', (err) => reject(new UsageError(`--ssh with key files needs ssh-agent (apt-get install openssh-client): ${err.message}`)));
    const t0 = Date.now();
    const poll = () =>
      stat(sock).then(
        () => resolve(),
        () => (Date.now() - t0 > 5000 ? reject(new UsageError('ssh-agent did not start')) : setTimeout(poll, 10)),
      );
    poll();
  });
  for (const key of keys) {
    try {
      await run('ssh-add', [key], { env: { ...process.env, SSH_AUTH_SOCK: sock } });
    } catch (err) {
      throw new UsageError(`--ssh: cannot load key ${key}: ${String((err as { stderr?: string }).stderr ?? (err as Error).message).trim()}`);
    }
  }
  return sock;
}
