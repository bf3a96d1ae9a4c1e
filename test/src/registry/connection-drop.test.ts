/**
 * A connection that drops in the middle of a manifest response, against a real docker-registry behind a
 * small TCP proxy (below) that forwards the response headers and half of the body of the first N manifest
 * GETs, then closes (FIN) or resets (RST) both sides. The client reads manifests again with backoff
 * (bounded by `retries`), and when every attempt dropped it says so: the connection dropped, never
 * "not found". The same through the CLI: `tsbuild build` of `FROM <proxy>/image`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalContentStore } from '../../../src/content/store.js';
import { TsbuildError } from '../../../src/errors.js';
import { RegistryClient } from '../../../src/registry/index.js';
import { RegistryUnreachableError } from '../../../src/registry/errors.js';
import { TestRegistry } from '../../registry/harness.js';
import { busyboxImage, writeIndex } from '../../registry/images.js';
import { Sandbox } from '../../e2e/harness.js';

/** A TCP proxy that cuts the first `cutLeft` manifest GET responses in the middle of their body. */
class CuttingProxy {
  cutLeft = 0;
  /** How a cut closes the client's side: FIN (premature close) or RST (connection reset). */
  how: 'fin' | 'rst' = 'fin';
  /** Manifest GETs seen, and how many were cut. */
  manifestGets = 0;
  cuts = 0;
  port = 0;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();

  constructor(readonly targetPort: number) {}

  async start(): Promise<this> {
    this.server = createServer((client) => {
      const up = connect(this.targetPort, '127.0.0.1');
      this.sockets.add(client).add(up);
      let cutThis = false; // the response in flight belongs to a request chosen to be cut
      let held = Buffer.alloc(0);
      const kill = () => {
        up.destroy();
        if (this.how === 'rst') client.resetAndDestroy();
        else client.end(() => client.destroy());
      };
      client.on('data', (d: Buffer) => {
        if (/^GET \S*\/manifests\//.test(d.toString('latin1'))) {
          this.manifestGets++;
          if (this.cutLeft > 0) {
            this.cutLeft--;
            cutThis = true;
            held = Buffer.alloc(0);
          }
        }
        up.write(d);
      });
      up.on('data', (d: Buffer) => {
        if (!cutThis) {
          client.write(d);
          return;
        }
        held = Buffer.concat([held, d]);
        const end = held.indexOf('\r\n\r\n');
        if (end < 0) return;
        const len = Number(/\r\ncontent-length:\s*(\d+)/i.exec(held.subarray(0, end).toString('latin1'))?.[1] ?? 0);
        const upTo = end + 4 + Math.floor(len / 2);
        if (held.length < upTo) return;
        cutThis = false;
        this.cuts++;
        client.write(held.subarray(0, upTo), kill);
      });
      const drop = () => {
        client.destroy();
        up.destroy();
      };
      client.on('error', drop).on('close', drop);
      up.on('error', drop).on('close', drop);
      client.on('close', () => this.sockets.delete(client));
      up.on('close', () => this.sockets.delete(up));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', () => resolve()));
    this.port = (this.server.address() as { port: number }).port;
    return this;
  }

  get domain(): string {
    return `127.0.0.1:${this.port}`;
  }

  reset(cut: number, how: 'fin' | 'rst' = 'fin'): void {
    this.cutLeft = cut;
    this.how = how;
    this.manifestGets = 0;
    this.cuts = 0;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

let reg: TestRegistry;
let proxy: CuttingProxy;
let dir: string;
let src: LocalContentStore;
const platform = { os: 'linux', architecture: 'amd64' };

beforeAll(async () => {
  reg = await TestRegistry.start('open');
  proxy = await new CuttingProxy(reg.port).start();
  dir = mkdtempSync(join(tmpdir(), 'tsbuild-conndrop-'));
  src = new LocalContentStore(join(dir, 'src'));
  const img = await busyboxImage(src, { extra: 0, unique: 'conndrop' });
  const index = await writeIndex(src, [{ manifest: img.manifest, platform }]);
  const push = new RegistryClient({ credentials: async () => undefined, retries: 0 });
  await push.push([`${reg.domain}/dropped:v1`], img.manifest, { content: src });
  await push.push([`${reg.domain}/dropped:multi`], index, { content: src });
}, 60_000);

afterAll(async () => {
  await proxy?.stop();
  await reg?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function client(retries: number) {
  return new RegistryClient({ credentials: async () => undefined, retries, backoffMs: 10 });
}

let n = 0;
const store = () => new LocalContentStore(join(dir, `dst-${++n}`));

describe('a connection dropped mid-manifest', () => {
  it.each(['fin', 'rst'] as const)('is retried (%s): two cut responses, the third attempt pulls the image', async (how) => {
    proxy.reset(2, how);
    const got = await client(3).pull(`${proxy.domain}/dropped:v1`, { content: store(), platform });
    expect(got.manifest.layers.length).toBe(1);
    expect(proxy.cuts).toBe(2);
    expect(proxy.manifestGets).toBe(3);
  });

  it('is retried for the platform manifest of an index too', async () => {
    proxy.reset(2);
    const got = await client(4).pull(`${proxy.domain}/dropped:multi`, { content: store(), platform });
    expect(got.manifest.layers.length).toBe(1);
    expect(proxy.cuts).toBe(2);
  });

  it('a manifest GET on its own (as resolve() does when HEAD gives no digest) is read again', async () => {
    proxy.reset(1);
    const got = await client(2).manifest(`${proxy.domain}/dropped:v1`);
    expect(got.digest).toMatch(/^sha256:/);
    expect(proxy.cuts).toBe(1);
  });

  it('after every retry dropped: an error that says the connection dropped, not "not found"; bounded attempts', async () => {
    proxy.reset(100);
    const err = await client(2).pull(`${proxy.domain}/dropped:v1`, { content: store(), platform }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryUnreachableError);
    expect((err as TsbuildError).code).toBe('REGISTRY_CONNECTION_DROPPED');
    expect((err as Error).message).toMatch(/connection .*dropped/);
    expect((err as Error).message).toContain(`${proxy.domain}/dropped`);
    expect((err as Error).message).toContain('3 attempts');
    expect((err as Error).message).not.toMatch(/not found/i);
    expect(proxy.manifestGets).toBe(3); // 1 + 2 retries, no more
  });

  it('the CLI: a build FROM an image whose manifest keeps dropping fails with that error (exit 1, no stack); with one drop it builds', async () => {
    const ctx = join(dir, 'ctx');
    mkdirSync(ctx, { recursive: true });
    writeFileSync(join(ctx, 'Dockerfile'), `FROM ${proxy.domain}/dropped:v1\nLABEL a=b\n`);
    const sb = new Sandbox();
    const env = { TSBUILD_REGISTRY_RETRIES: '2' };
    const build = () => sb.tsbuild(['build', '--insecure-registry', proxy.domain, '--progress', 'plain', ctx], { env });
    try {
    proxy.reset(100);
    const bad = await build();
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/connection .*dropped/);
    expect(bad.stderr).not.toMatch(/not found/i);
    expect(bad.stderr).not.toMatch(/\n\s+at /);
    proxy.reset(1);
    const ok = await build();
    expect(ok.code, ok.stderr).toBe(0);
    expect(proxy.cuts).toBe(1);
    } finally {
      sb.cleanup();
    }
  }, 120_000);
});
