/**
 * NODE_EXTRA_CA_CERTS deferred by bin/tsbuild's shell line (src/tls/deferred-ca.ts): tsbuild run as a command
 * (so /bin/sh runs that line) still trusts the CA file when TLS is used: a registry over TLS whose CA is only
 * in NODE_EXTRA_CA_CERTS (not in certs.d) and an `ADD https://` from a server with a certificate of the same
 * CA. A credential helper shows what the processes tsbuild starts see: the variable set as the user set it.
 * Each case has its control: the same command without the variable fails on the certificate.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { LocalContentStore } from '../../../src/content/store.js';
import { RegistryClient } from '../../../src/registry/index.js';
import { Sandbox, repo } from '../../e2e/harness.js';
import { PASSWORD, TestRegistry, USER } from '../../registry/harness.js';
import { busyboxImage } from '../../registry/images.js';

let basic: TestRegistry;
let sb: Sandbox;
let server: Server;
let port = 0;
let env: Record<string, string>;
const helperDump = () => join(sb.dir, 'helper-env.txt');

/** `bin/tsbuild ARGS` executed as a program (its first line runs in /bin/sh), as a user's shell runs it. */
function tsbuild(args: string[], extra: Record<string, string | undefined>): Promise<{ code: number; out: string }> {
  const childEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, TSBUILD_ROOT: sb.root, TSBUILD_RUNTIME: sb.runtime, NO_COLOR: '1', ...env, ...extra })) {
    if (v !== undefined) childEnv[k] = v;
  }
  return new Promise((resolve, reject) => {
    const child = spawn(join(repo, 'bin/tsbuild'), args, { cwd: sb.dir, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, out }));
  });
}

function context(name: string, dockerfile: string): string {
  const d = join(sb.dir, `ctx-${name}`);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'Dockerfile'), dockerfile);
  return d;
}

beforeAll(async () => {
  basic = await TestRegistry.start('basic');
  sb = new Sandbox();
  const src = new LocalContentStore(join(sb.dir, 'fixture-content'));
  const img = await busyboxImage(src, { extra: 1, unique: 'deferred-ca' });
  await new RegistryClient({ credentials: async () => ({ username: USER, password: PASSWORD }), certsDir: basic.certsDir }).push([`${basic.domain}/ca/base:v1`], img.manifest, { content: src });
  // A credential helper (a process tsbuild starts) that answers with the test user and records its environment.
  const bin = join(sb.dir, 'bin');
  mkdirSync(bin, { recursive: true });
  const helper = join(bin, 'docker-credential-envdump');
  writeFileSync(
    helper,
    `#!/bin/sh\nprintf 'NODE_EXTRA_CA_CERTS=%s TSBUILD_CA_DEFERRED=%s\\n' "$NODE_EXTRA_CA_CERTS" "$TSBUILD_CA_DEFERRED" > '${helperDump()}'\n[ "$1" = get ] && printf '{"ServerURL":"%s","Username":"${USER}","Secret":"${PASSWORD}"}' "$(cat)"\nexit 0\n`,
  );
  chmodSync(helper, 0o755);
  const docker = join(sb.dir, 'docker');
  mkdirSync(docker, { recursive: true });
  writeFileSync(join(docker, 'config.json'), JSON.stringify({ credsStore: 'envdump' }));
  // certs.d is empty: the registry's CA is trusted only through NODE_EXTRA_CA_CERTS.
  env = { DOCKER_CONFIG: docker, TSBUILD_CERTS_DIR: join(sb.dir, 'no-certs'), PATH: `${bin}:${process.env.PATH}`, TSBUILD_REGISTRY_RETRIES: '0' };
  // An HTTPS server with a certificate from the registry's CA, for ADD.
  const dir = basic.caFile!.replace(/\/ca\.crt$/, '');
  const ssl = (args: string[]) => execFileSync('openssl', args, { cwd: sb.dir, stdio: 'pipe' });
  ssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'web.key', '-out', 'web.csr', '-subj', '/CN=127.0.0.1']);
  writeFileSync(join(sb.dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  ssl(['x509', '-req', '-in', 'web.csr', '-CA', join(dir, 'ca.crt'), '-CAkey', join(dir, 'ca.key'), '-CAcreateserial', '-out', 'web.crt', '-days', '2', '-extfile', 'san.ext']);
  server = createServer({ key: readFileSync(join(sb.dir, 'web.key')), cert: readFileSync(join(sb.dir, 'web.crt')) }, (_req, res) => res.end('over TLS\n'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
}, 120_000);

afterAll(async () => {
  server?.close();
  await basic?.stop();
  sb?.cleanup();
});

describe('NODE_EXTRA_CA_CERTS, deferred to the first TLS use', () => {
  it('a TLS registry whose CA is only in NODE_EXTRA_CA_CERTS; a credential helper sees the variable as the user set it', async () => {
    const ctx = context('registry', `FROM ${basic.domain}/ca/base:v1\nRUN ls / > /copy\n`);
    const without = await tsbuild(['build', '--progress', 'plain', ctx], { NODE_EXTRA_CA_CERTS: undefined });
    expect(without.code, without.out).not.toBe(0);
    expect(without.out).toMatch(/certificate/i);
    const ok = await tsbuild(['build', '--progress', 'plain', '-t', 'ca:v1', ctx], { NODE_EXTRA_CA_CERTS: basic.caFile! });
    expect(ok.code, ok.out).toBe(0);
    // Node started without it (the shell line moved it aside: what saves the start-up), and it is back for children.
    expect(readFileSync(helperDump(), 'utf8')).toBe(`NODE_EXTRA_CA_CERTS=${basic.caFile} TSBUILD_CA_DEFERRED=${basic.caFile}\n`);
  });

  it('ADD https:// from a server whose certificate is from that CA', async () => {
    const ctx = context('add', `FROM scratch\nADD https://127.0.0.1:${port}/file.txt /file.txt\n`);
    const out = join(sb.dir, 'add-out');
    const without = await tsbuild(['build', '--progress', 'plain', '-o', `type=local,dest=${out}-x`, ctx], { NODE_EXTRA_CA_CERTS: undefined });
    expect(without.code, without.out).not.toBe(0);
    expect(without.out).toMatch(/certificate/i);
    const ok = await tsbuild(['build', '--progress', 'plain', '-o', `type=local,dest=${out}`, ctx], { NODE_EXTRA_CA_CERTS: basic.caFile! });
    expect(ok.code, ok.out).toBe(0);
    expect(readFileSync(join(out, 'file.txt'), 'utf8')).toBe('over TLS\n');
  });

  it('a file that cannot be read: a warning naming it (as Node gives), and the default roots alone', async () => {
    const ctx = context('unreadable', `FROM scratch\nADD https://127.0.0.1:${port}/file.txt /file.txt\n`);
    const missing = join(sb.dir, 'no-such-ca.pem');
    const r = await tsbuild(['build', '--progress', 'plain', '-o', `type=local,dest=${join(sb.dir, 'unreadable-out')}`, ctx], { NODE_EXTRA_CA_CERTS: missing });
    expect(r.code, r.out).not.toBe(0);
    expect(r.out).toContain(`Ignoring extra certs from \`${missing}\`, load failed`);
    expect(r.out).toMatch(/certificate/i);
  });
});
