/**
 * The scheme memory (src/registry/schemes.ts, used by transport.ts's ping): a registry that may use plain
 * HTTP and answered on it is asked on HTTP first by the next client (no TLS handshake that fails first); a
 * registry that speaks TLS now is still found (the memory is a hint, corrected by the usual probe).
 * A TCP forwarder in front of the plain registry records whether each connection started with a TLS record.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RegistryClient } from '../../src/registry/index.js';
import { SchemeMemory } from '../../src/registry/schemes.js';
import { TestRegistry } from './harness.js';

let open: TestRegistry;
let basic: TestRegistry;
let forwarder: Server;
let domain: string;
let dir: string;
/** First byte of each connection the forwarder saw: 0x16 is a TLS handshake record, 'G' a plain GET. */
const firstBytes: number[] = [];

beforeAll(async () => {
  [open, basic] = await Promise.all([TestRegistry.start('open'), TestRegistry.start('basic')]);
  dir = mkdtempSync(join(tmpdir(), 'tsb-schemes-'));
  forwarder = createServer((c) => {
    const up = createConnection(open.port, '127.0.0.1');
    c.once('data', (d) => firstBytes.push(d[0]!));
    c.pipe(up).pipe(c);
    c.on('error', () => up.destroy());
    up.on('error', () => c.destroy());
  });
  await new Promise<void>((r) => forwarder.listen(0, '127.0.0.1', r));
  domain = `127.0.0.1:${(forwarder.address() as { port: number }).port}`;
}, 60_000);

afterAll(async () => {
  forwarder?.close();
  await Promise.all([open?.stop(), basic?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

it('a plain-HTTP registry is asked on HTTP first once it answered there; without the memory, HTTPS is tried first', async () => {
  const memory = new SchemeMemory(join(dir, 'schemes'));
  expect((await new RegistryClient({ schemes: memory, retries: 0 }).address(domain)).base).toBe(`http://${domain}`);
  expect(firstBytes).toContain(0x16); // the usual probe: TLS first
  expect(memory.get(domain)).toBe('http');

  firstBytes.length = 0;
  expect((await new RegistryClient({ schemes: memory, retries: 0 }).address(domain)).base).toBe(`http://${domain}`);
  expect(firstBytes.length).toBeGreaterThan(0);
  expect(firstBytes).not.toContain(0x16);

  firstBytes.length = 0;
  await new RegistryClient({ retries: 0 }).address(domain);
  expect(firstBytes).toContain(0x16);
});

it('a memory that says HTTP for a registry that speaks TLS now costs one request: HTTPS is found and remembered', async () => {
  const memory = new SchemeMemory(join(dir, 'schemes2'));
  await memory.set(basic.domain, 'http');
  const client = new RegistryClient({ schemes: memory, certsDir: basic.certsDir, retries: 0 });
  expect((await client.address(basic.domain)).base).toBe(`https://${basic.domain}`);
  expect(memory.get(basic.domain)).toBe('https');
  // a registry that may not use plain HTTP never reads the memory (the memory's domain is its own)
  await memory.set('registry.example.com', 'http');
  expect(memory.get('registry.example.com')).toBe('http');
  expect(memory.get('other.example.com')).toBeUndefined();
});
