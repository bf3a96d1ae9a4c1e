/**
 * The isolated "sandbox" network: a network namespace of its own with outbound access through
 * slirp4netns (Debian package `slirp4netns`), shared by the steps of one executor (one build).
 *
 * The namespace is held by a tiny `unshare --net sh` process; slirp4netns attaches a tap device
 * (10.0.2.100/24, gateway 10.0.2.2, DNS 10.0.2.3) to it and forwards connections through the
 * host's stack in user space. `--disable-host-loopback` keeps the host's 127.0.0.1 services out of
 * reach. Both helper processes read from a pipe held by tsbuild: when tsbuild dies, even by
 * SIGKILL, the pipe closes and they exit, so nothing stays behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { access } from 'node:fs/promises';
import { constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { SandboxError } from '../errors.js';

export const SLIRP_DNS = '10.0.2.3';
const START_TIMEOUT_MS = 10_000;

/** Whether `name` is an executable on PATH. */
export async function onPath(name: string): Promise<boolean> {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter)) {
    if (!dir) continue;
    try {
      await access(join(dir, name), constants.X_OK);
      return true;
    } catch {
      // next
    }
  }
  return false;
}

let available: Promise<boolean> | undefined;
export function slirpAvailable(): Promise<boolean> {
  // slirp4netns opens /dev/net/tun: some hosts keep it root-only, which rules it out for rootless builds.
  const tun = access('/dev/net/tun', constants.R_OK | constants.W_OK).then(
    () => true,
    () => false,
  );
  available ??= Promise.all([onPath('slirp4netns'), onPath('unshare'), tun]).then(([a, b, c]) => a && b && c);
  return available;
}

export class SlirpNetwork {
  private holder?: ChildProcess;
  private slirp?: ChildProcess;
  private starting?: Promise<string>;

  /** Path of the namespace (/proc/<pid>/ns/net), started on first use. */
  namespacePath(): Promise<string> {
    this.starting ??= this.start().catch(async (err) => {
      await this.close();
      this.starting = undefined;
      throw err;
    });
    return this.starting;
  }

  private async start(): Promise<string> {
    const holder = spawn('unshare', ['--net', '--', '/bin/sh', '-c', 'echo ready; read _'], { stdio: ['pipe', 'pipe', 'ignore'] });
    this.holder = holder;
    unrefChild(holder);
    await waitFor(holder, holder.stdout!, (t) => t.includes('ready'), 'unshare --net');
    const pid = holder.pid!;
    const slirp = spawn('slirp4netns', ['--configure', '--mtu=65520', '--disable-host-loopback', '--ready-fd=3', '--exit-fd=4', String(pid), 'tap0'], {
      stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'],
    });
    this.slirp = slirp;
    unrefChild(slirp);
    const stderr: Buffer[] = [];
    slirp.stderr!.on('data', (c: Buffer) => stderr.push(c));
    await waitFor(slirp, slirp.stdio[3] as Readable, (t) => t.includes('1'), 'slirp4netns', () => Buffer.concat(stderr).toString());
    return `/proc/${pid}/ns/net`;
  }

  async close(): Promise<void> {
    for (const child of [this.slirp, this.holder]) {
      if (!child || child.exitCode !== null || child.signalCode !== null) continue;
      const gone = new Promise<void>((r) => child.once('close', () => r()));
      // Keep the event loop alive until they are gone (they were unref'd while idle).
      child.ref();
      for (const st of child.stdio) (st as { ref?: () => void } | null)?.ref?.();
      child.kill('SIGKILL');
      await gone;
    }
    this.slirp = undefined;
    this.holder = undefined;
    this.starting = undefined;
  }
}

function unrefChild(child: ChildProcess): void {
  child.unref();
  for (const s of child.stdio) (s as (Readable | Writable) & { unref?: () => void } | null)?.unref?.();
}

function waitFor(child: ChildProcess, stream: Readable, done: (text: string) => boolean, what: string, detail?: () => string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let text = '';
    const fail = (why: string) => {
      cleanup();
      const more = detail?.().trim();
      reject(new SandboxError('NETWORK_SETUP_FAILED', `cannot set up the sandbox network: ${what} ${why}${more ? `: ${more}` : ''}`, {
        hint: 'use --network host (shares the host network) or --network none',
      }));
    };
    const onData = (c: Buffer) => {
      text += c.toString();
      if (done(text)) {
        cleanup();
        resolve();
      }
    };
    const onExit = (code: number | null) => fail(`exited (${code ?? 'signal'})`);
    const onError = (err: Error) => fail(err.message);
    const timer = setTimeout(() => fail('did not become ready'), START_TIMEOUT_MS);
    const cleanup = () => {
      clearTimeout(timer);
      stream.off('data', onData);
      child.off('exit', onExit);
      child.off('error', onError);
    };
    stream.on('data', onData);
    child.on('exit', onExit);
    child.on('error', onError);
  });
}
