/**
 * RUN --mount=type=ssh: a socket owned by the step's uid/gid with the requested mode, that forwards
 * every connection to the SSH agent given with `--ssh id=PATH` (or $SSH_AUTH_SOCK). The host agent's
 * own socket is never exposed, and its permissions never changed.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { chmod, chown, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';

export interface SshProxy {
  socket: string;
  close(): Promise<void>;
}

export async function startSshProxy(stateDir: string, agent: string, mode: number, uid: number, gid: number): Promise<SshProxy> {
  await mkdir(stateDir, { recursive: true });
  const dir = await mkdtemp(join(stateDir, `ssh-${process.pid}-`));
  const socket = join(dir, 'agent.sock');
  const conns = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = createConnection(agent);
    conns.add(client);
    conns.add(upstream);
    client.pipe(upstream).pipe(client);
    const done = () => {
      client.destroy();
      upstream.destroy();
      conns.delete(client);
      conns.delete(upstream);
    };
    client.on('error', done).on('close', done);
    upstream.on('error', done).on('close', done);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socket, () => resolve());
  });
  server.unref();
  await chmod(socket, mode);
  await chown(socket, uid, gid);
  return {
    socket,
    close: async () => {
      for (const c of conns) c.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
