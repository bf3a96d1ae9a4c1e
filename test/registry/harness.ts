/**
 * Real registries for tests: the Debian `docker-registry` (distribution 2.8) on 127.0.0.1 with a random free
 * port, in the three configurations a private registry uses:
 * - `open`: plain HTTP, no auth;
 * - `basic`: htpasswd (bcrypt, made with apache2-utils' htpasswd) over TLS with a CA made at setup;
 * - `token`: distribution's `auth: token`, with a small token server of ours (Node http) that issues RS256
 *   JWTs signed with a key pair made at setup (the certificate goes in the JWT's x5c and in rootcertbundle).
 * Plus a counting / corrupting HTTP proxy to put in front of a registry. Call stop() in afterAll.
 * The token server and the proxy run in the test's own process: reach them only with async calls
 * (spawn/execFile, never execFileSync/spawnSync), or the blocked event loop deadlocks the test.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { connect, createServer as createNetServer } from 'node:net';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createHash, createPrivateKey, randomBytes, sign, X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const USER = 'alice';
export const PASSWORD = 's3cret-Pa55';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export type RegistryKind = 'open' | 'basic' | 'token';

export interface TokenServerStats {
  post: number;
  get: number;
  /** Scopes asked for, in order. */
  scopes: string[];
}

export class TestRegistry {
  readonly dir: string;
  readonly storage: string;
  port = 0;
  domain = '';
  /** certs.d-style dir: `<certsDir>/<domain>/ca.crt` (basic only). */
  readonly certsDir: string;
  caFile = '';
  private proc: ChildProcess | undefined;
  private configFile = '';
  private logText = '';
  tokenServer: Server | undefined;
  tokenStats: TokenServerStats = { post: 0, get: 0, scopes: [] };
  /** Token server behaviour: answer POST with 404 (forces the GET fallback). */
  tokenPostUnsupported = false;

  constructor(readonly kind: RegistryKind) {
    this.dir = mkdtempSync(join(tmpdir(), `tsbuild-registry-${kind}-`));
    this.storage = join(this.dir, 'storage');
    this.certsDir = join(this.dir, 'certs.d');
  }

  static async start(kind: RegistryKind): Promise<TestRegistry> {
    const r = new TestRegistry(kind);
    try {
      await r.setup();
      await r.launch();
    } catch (err) {
      await r.stop();
      throw err;
    }
    return r;
  }

  private async setup(): Promise<void> {
    this.port = await freePort();
    this.domain = `127.0.0.1:${this.port}`;
    const lines = [
      'version: 0.1',
      'log:',
      '  level: info',
      '  accesslog:',
      '    disabled: false',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${this.storage}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: 127.0.0.1:${this.port}`,
      `  secret: ${randomBytes(8).toString('hex')}`,
    ];
    if (this.kind === 'basic') {
      const ssl = (args: string[]) => execFileSync('openssl', args, { cwd: this.dir, stdio: 'pipe' });
      ssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=tsbuild test CA']);
      ssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1']);
      writeFileSync(join(this.dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
      ssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'san.ext']);
      this.caFile = join(this.dir, 'ca.crt');
      mkdirSync(join(this.certsDir, this.domain), { recursive: true });
      writeFileSync(join(this.certsDir, this.domain, 'ca.crt'), readFileSync(this.caFile));
      const line = execFileSync('htpasswd', ['-Bbn', USER, PASSWORD]).toString().trim();
      writeFileSync(join(this.dir, 'htpasswd'), line + '\n');
      lines.push('  tls:', `    certificate: ${join(this.dir, 'server.crt')}`, `    key: ${join(this.dir, 'server.key')}`);
      lines.push('auth:', '  htpasswd:', '    realm: tsbuild-test', `    path: ${join(this.dir, 'htpasswd')}`);
    }
    if (this.kind === 'token') {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'token.key', '-out', 'token.crt', '-days', '2', '-subj', '/CN=tsbuild token issuer'], { cwd: this.dir, stdio: 'pipe' });
      const tokenPort = await this.startTokenServer();
      lines.push('auth:', '  token:', `    realm: http://127.0.0.1:${tokenPort}/token`, '    service: tsbuild-test-registry', '    issuer: tsbuild-test-issuer', `    rootcertbundle: ${join(this.dir, 'token.crt')}`);
    }
    this.configFile = join(this.dir, 'config.yml');
    writeFileSync(this.configFile, lines.join('\n') + '\n');
  }

  /** A token server: GET (Basic auth) and POST (OAuth2 password form); anonymous gets pull on `public/*` only. */
  private startTokenServer(): Promise<number> {
    const key = createPrivateKey(readFileSync(join(this.dir, 'token.key')));
    const certDer = new X509Certificate(readFileSync(join(this.dir, 'token.crt'))).raw.toString('base64');
    const b64u = (b: Buffer | string) => Buffer.from(b).toString('base64url');
    const issue = (user: string | undefined, scopes: string[]) => {
      const access = scopes.flatMap((s) => {
        const [type, ...rest] = s.split(':');
        const actions = rest.pop()!.split(',');
        const name = rest.join(':');
        if (type !== 'repository') return [];
        const allowed = user ? actions : name.startsWith('public/') ? actions.filter((a) => a === 'pull') : [];
        return allowed.length ? [{ type, name, actions: allowed }] : [];
      });
      const now = Math.floor(Date.now() / 1000);
      const header = { alg: 'RS256', typ: 'JWT', x5c: [certDer] };
      const claims = { iss: 'tsbuild-test-issuer', sub: user ?? '', aud: 'tsbuild-test-registry', exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access };
      const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(claims))}`;
      return `${input}.${b64u(sign('sha256', Buffer.from(input), key))}`;
    };
    const server = createServer(async (req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const body = await readBody(req);
      let user: string | undefined;
      let scopes: string[];
      if (req.method === 'POST') {
        this.tokenStats.post++;
        if (this.tokenPostUnsupported) {
          res.writeHead(404).end();
          return;
        }
        const form = new URLSearchParams(body.toString());
        if (form.get('grant_type') !== 'password' || form.get('username') !== USER || form.get('password') !== PASSWORD) {
          res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"invalid_grant"}');
          return;
        }
        user = USER;
        scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
        const token = issue(user, scopes);
        this.tokenStats.scopes.push(...scopes);
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ access_token: token, expires_in: 300, scope: scopes.join(' ') }));
        return;
      }
      this.tokenStats.get++;
      const auth = req.headers.authorization;
      if (auth) {
        const [u, p] = Buffer.from(auth.replace(/^Basic /, ''), 'base64').toString().split(':');
        if (u !== USER || p !== PASSWORD) {
          res.writeHead(401).end('{"details":"incorrect username or password"}');
          return;
        }
        user = USER;
      }
      scopes = url.searchParams.getAll('scope');
      this.tokenStats.scopes.push(...scopes);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: issue(user, scopes), expires_in: 300 }));
    });
    this.tokenServer = server;
    return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
  }

  /** Start (or restart) the registry process and wait until it answers. */
  async launch(): Promise<void> {
    const proc = spawn('docker-registry', ['serve', this.configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    proc.stdout!.on('data', (d) => (this.logText += d));
    proc.stderr!.on('data', (d) => (this.logText += d));
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`docker-registry exited ${proc.exitCode}:\n${this.logText}`);
      if (await this.answers()) return;
      if (Date.now() > deadline) throw new Error(`docker-registry did not start:\n${this.logText}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private answers(): Promise<boolean> {
    return new Promise((resolve) => {
      const sock = connect(this.port, '127.0.0.1');
      sock.once('connect', () => {
        sock.destroy();
        resolve(true);
      });
      sock.once('error', () => resolve(false));
    });
  }

  /** The registry's log so far (access log lines included). */
  log(): string {
    return this.logText;
  }

  /** SIGKILL the registry (the storage stays). */
  async kill(): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGKILL');
    });
  }

  async stop(): Promise<void> {
    await this.kill();
    await new Promise<void>((resolve) => (this.tokenServer ? this.tokenServer.close(() => resolve()) : resolve()));
    this.tokenServer?.closeAllConnections?.();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** skopeo flags to reach this registry as a destination (`dest`) or source (`src`). */
  skopeoFlags(side: 'src' | 'dest'): string[] {
    if (this.kind === 'open') return [`--${side}-tls-verify=false`];
    if (this.kind === 'basic') return [`--${side}-cert-dir`, join(this.certsDir, this.domain), `--${side}-creds`, `${USER}:${PASSWORD}`];
    return [`--${side}-tls-verify=false`, `--${side}-creds`, `${USER}:${PASSWORD}`];
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export interface ProxyRequest {
  method: string;
  path: string;
  range?: string;
  /** Whether an Authorization header was sent (never its value). */
  authorized: boolean;
}

/**
 * An HTTP proxy in front of `targetPort` that records every request and can corrupt the body of chosen
 * responses (one byte flipped, same length). The Host header is passed through, so the registry's upload
 * Locations point back at the proxy.
 */
export class CountingProxy {
  readonly requests: ProxyRequest[] = [];
  port = 0;
  private server: Server | undefined;
  /** Responses to GETs whose path matches are corrupted. */
  corrupt: RegExp | undefined;
  /** Answer requests whose path matches with these statuses first (one per request), then pass through. */
  failures: { path: RegExp; statuses: number[] } | undefined;
  /** The first GET whose path matches gets half its body, then the connection is cut. */
  truncateOnce: RegExp | undefined;
  private holding: RegExp | undefined;
  private onHeld: (() => void) | undefined;

  /** The next GET whose path matches gets half its body, then nothing more (held open until stop()); resolves then. */
  holdOnce(path: RegExp): Promise<void> {
    this.holding = path;
    return new Promise((resolve) => (this.onHeld = resolve));
  }
  /** GETs whose path matches get an endless 200 body (no Content-Length) until the client hangs up. */
  endless: RegExp | undefined;
  /** Forward a request for another path (e.g. a sha512 manifest reference, which docker-registry cannot serve). */
  rewrite: ((path: string) => string) | undefined;
  /**
   * Called with each request before it is forwarded; the request waits for it (its body unread). E.g. kill
   * the registry behind when a chosen request arrives: that request and the ones after it reach a dead port.
   */
  beforeForward: ((r: ProxyRequest) => void | Promise<void>) | undefined;

  constructor(readonly targetPort: number) {}

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const rec: ProxyRequest = { method: req.method ?? '', path: req.url ?? '', authorized: req.headers.authorization !== undefined, ...(req.headers.range ? { range: req.headers.range } : {}) };
      this.requests.push(rec);
      const hook = this.beforeForward;
      if (!hook) return this.handle(req, res);
      req.pause();
      Promise.resolve(hook(rec)).then(
        () => this.handle(req, res),
        () => res.destroy(),
      );
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', () => resolve()));
    this.port = (this.server.address() as { port: number }).port;
    return this;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const f = this.failures;
    if (f && f.path.test(req.url ?? '') && f.statuses.length > 0) {
      const status = f.statuses.shift()!;
      req.resume();
      res.writeHead(status, status === 429 ? { 'retry-after': '0' } : {}).end();
      return;
    }
    if (this.endless && req.method === 'GET' && this.endless.test(req.url ?? '')) {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' });
      const chunk = Buffer.alloc(1 << 16, 32);
      const pump = () => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', pump);
      };
      res.on('close', () => res.removeAllListeners('drain'));
      pump();
      return;
    }
    const path = this.rewrite ? this.rewrite(req.url ?? '') : req.url;
    const up = httpRequest({ host: '127.0.0.1', port: this.targetPort, method: req.method, path, headers: req.headers }, (ur) => {
      const hold = this.holding !== undefined && req.method === 'GET' && this.holding.test(req.url ?? '') && ur.statusCode === 200;
      if (hold || (this.truncateOnce && req.method === 'GET' && this.truncateOnce.test(req.url ?? '') && ur.statusCode === 200)) {
        if (hold) this.holding = undefined;
        else this.truncateOnce = undefined;
        // Half the body (rounded down: with `sent >= len / 2` an odd length never cut, and the client waited forever).
        const half = Math.floor(Number(ur.headers['content-length']) / 2);
        res.writeHead(200, ur.headers);
        let sent = 0;
        ur.on('data', (c: Buffer) => {
          if (sent >= half) return;
          const part = c.subarray(0, Math.max(0, Math.min(c.length, half - sent)));
          sent += part.length;
          res.write(part);
          if (sent >= half && hold) this.onHeld?.();
          else if (sent >= half) setTimeout(() => res.socket?.destroy(), 20);
        });
        return;
      }
      const bad = this.corrupt && req.method === 'GET' && this.corrupt.test(req.url ?? '') && ur.statusCode === 200;
      if (!bad) {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
        return;
      }
      readBody(ur).then((b) => {
        const copy = Buffer.from(b);
        if (copy.length > 0) copy[copy.length >> 1] ^= 0xff;
        res.writeHead(ur.statusCode ?? 200, ur.headers);
        res.end(copy);
      });
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  }

  get domain(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Requests that send blob bytes (upload PATCH/PUT with a body, or a monolithic PUT). */
  blobUploads(): ProxyRequest[] {
    return this.requests.filter((r) => (r.method === 'PATCH' || r.method === 'PUT') && r.path.includes('/blobs/uploads/'));
  }

  reset(): void {
    this.requests.length = 0;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

export function sha256hex(b: Buffer | string): string {
  return createHash('sha256').update(b).digest('hex');
}
