/**
 * src/registry/http.ts: undici's `request` and `Agent` loaded without undici's index (which loads all of
 * undici: ~100 ms more compile per process that talks to a registry). `request` behaves as undici's: path and
 * query of the URL, GET by default (PUT with a body), on the given dispatcher or undici's global one.
 */
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from '../../../src/registry/http.js';
import { transpileForChild } from '../content/transpile.js';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
let server: Server;
let base = '';
const seen: { method: string; url: string; body: string }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', body });
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`${req.method} ${req.url}`);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe('registry http (undici parts)', () => {
  it('request: the URL\'s path and query, GET by default, PUT with a body, on an Agent or the global dispatcher', async () => {
    const agent = new Agent({ connections: 2 });
    const a = await request(`${base}/v2/app/tags/list?n=5&last=x`, { dispatcher: agent });
    expect(a.statusCode).toBe(200);
    expect(await a.body.text()).toBe('GET /v2/app/tags/list?n=5&last=x');
    const b = await request(new URL(`${base}/v2/app/blobs/uploads/1`), { body: 'bytes', dispatcher: agent });
    expect(await b.body.text()).toBe('PUT /v2/app/blobs/uploads/1');
    const c = await request(`${base}/redirected/blob`, { method: 'HEAD' }); // no dispatcher: undici's global one
    await c.body.dump();
    expect(seen.map((s) => `${s.method} ${s.url} ${s.body}`)).toEqual(['GET /v2/app/tags/list?n=5&last=x ', 'PUT /v2/app/blobs/uploads/1 bytes', 'HEAD /redirected/blob ']);
    await agent.close();
  });

  it('loads neither undici\'s index nor its fetch/WebSocket/mock modules', async () => {
    // Transpiled under the repo (so `undici/…` resolves from its node_modules), imported by a plain node.
    await mkdir(join(repoRoot, 'node_modules', '.cache'), { recursive: true });
    const dir = await mkdtemp(join(repoRoot, 'node_modules', '.cache', 'tsb-http-'));
    try {
      const js = await transpileForChild('src/registry/http.ts', dir);
      const script = `await import(${JSON.stringify(js)}); const { createRequire } = await import('node:module'); const r = createRequire(import.meta.url); console.log(JSON.stringify(Object.keys(r.cache)));`;
      const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script]);
      const loaded = (JSON.parse(stdout) as string[]).map((p) => p.slice(p.lastIndexOf('node_modules/undici/') + 'node_modules/undici/'.length));
      expect(loaded).toContain('lib/dispatcher/agent.js');
      expect(loaded).not.toContain('index.js');
      expect(loaded.filter((p) => /^lib\/(mock|web\/websocket|web\/cache|web\/eventsource)\//.test(p))).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
