/**
 * Build contexts that are not a directory, through the real CLI against local servers made here:
 * stdin (a gzipped tar, a Dockerfile alone), git over git:// (`git daemon`) and over smart HTTP (`git
 * http-backend` behind a tiny node CGI wrapper), and an https:// tarball from a TLS server whose CA is
 * trusted through NODE_EXTRA_CA_CERTS. Each build writes its rootfs with -o type=local and the test reads it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suiteSandbox, type RunOutput } from './harness.js';
import { freePort } from '../registry/harness.js';

const sb = suiteSandbox();
let n = 0;

/** `tsbuild ARGS` with `input` on stdin. */
function withStdin(args: string[], input: Buffer): Promise<RunOutput> {
  return new Promise((res, rej) => {
    const child = sb.spawn(args);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', rej);
    child.on('close', (code) => res({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input);
  });
}

function outDir(): string {
  return join(sb.dir, `rc-out-${++n}`);
}

const git = (cwd: string, ...args: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { cwd, stdio: 'pipe' }).toString();

describe('stdin context', () => {
  it('- reads a gzipped tar of the context', async () => {
    const src = join(sb.dir, 'stdin-src');
    mkdirSync(src);
    writeFileSync(join(src, 'Dockerfile'), 'FROM busybox:latest\nCOPY msg.txt /msg.txt\nRUN cat /msg.txt > /copied\n');
    writeFileSync(join(src, 'msg.txt'), 'from a tar on stdin\n');
    const tgz = execFileSync('tar', ['-czf', '-', '-C', src, '.']);
    const out = outDir();
    const r = await withStdin(['build', '--progress', 'plain', '-o', `type=local,dest=${out}`, '-'], tgz);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(out, 'copied'), 'utf8')).toBe('from a tar on stdin\n');
  });

  it('- reads a Dockerfile alone (empty context)', async () => {
    const out = outDir();
    const r = await withStdin(['build', '--progress', 'plain', '-o', `type=local,dest=${out}`, '-'], Buffer.from('FROM busybox:latest\nRUN echo dockerfile-only > /x\n'));
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(out, 'x'), 'utf8')).toBe('dockerfile-only\n');
    const both = await withStdin(['build', '-f', '-', '-'], Buffer.from('FROM scratch\n'));
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/cannot both come from stdin/);
  });

  it('a missing context names what was tried', async () => {
    const r = await sb.tsbuild(['build', './no-such-dir']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/build context "\.\/no-such-dir" does not exist: tried the directory \S+no-such-dir; it is not "-" \(stdin\), a git URL/);
  });
});

describe('git context', () => {
  let base: string;
  let daemon: ChildProcess;
  let daemonPort: number;
  let http: Server;
  let httpPort: number;
  beforeAll(async () => {
    base = join(sb.dir, 'git');
    const work = join(base, 'work');
    mkdirSync(join(work, 'app'), { recursive: true });
    git(work, 'init', '-q', '-b', 'main');
    writeFileSync(join(work, 'app', 'Dockerfile'), 'FROM busybox:latest\nCOPY v.txt /v.txt\n');
    writeFileSync(join(work, 'app', 'v.txt'), 'main branch\n');
    writeFileSync(join(work, 'Dockerfile'), 'FROM busybox:latest\nCOPY . /src\nRUN ls -a /src > /listing\n');
    git(work, 'add', '.');
    git(work, 'commit', '-qm', 'one');
    git(work, 'checkout', '-qb', 'feature');
    writeFileSync(join(work, 'app', 'v.txt'), 'feature branch\n');
    git(work, 'commit', '-qam', 'two');
    git(work, 'checkout', '-q', 'main');
    execFileSync('git', ['clone', '-q', '--bare', work, join(base, 'repo.git')]);
    daemonPort = await freePort();
    daemon = spawn('git', ['daemon', '--reuseaddr', '--export-all', `--base-path=${base}`, '--listen=127.0.0.1', `--port=${daemonPort}`, base], { stdio: 'ignore' });
    // Wait until the daemon answers.
    for (let i = 0; i < 100; i++) {
      try {
        execFileSync('git', ['ls-remote', `git://127.0.0.1:${daemonPort}/repo.git`], { stdio: 'pipe' });
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    // Smart HTTP: git http-backend as a CGI program.
    http = createHttpServer((req, res) => {
      const url = new URL(req.url!, 'http://x');
      const cgi = spawn('git', ['http-backend'], {
        env: { ...process.env, GIT_PROJECT_ROOT: base, GIT_HTTP_EXPORT_ALL: '1', PATH_INFO: url.pathname, QUERY_STRING: url.search.slice(1), REQUEST_METHOD: req.method!, CONTENT_TYPE: req.headers['content-type'] ?? '', REMOTE_ADDR: '127.0.0.1' },
      });
      req.pipe(cgi.stdin);
      let head = Buffer.alloc(0);
      let headerDone = false;
      cgi.stdout.on('data', (d: Buffer) => {
        if (headerDone) return void res.write(d);
        head = Buffer.concat([head, d]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        headerDone = true;
        let status = 200;
        for (const line of head.subarray(0, end).toString().split('\r\n')) {
          const [k, ...v] = line.split(':');
          if (k!.toLowerCase() === 'status') status = parseInt(v.join(':'), 10);
          else res.setHeader(k!, v.join(':').trim());
        }
        res.writeHead(status);
        res.write(head.subarray(end + 4));
      });
      cgi.on('close', () => res.end());
    });
    httpPort = await freePort();
    await new Promise<void>((r) => http.listen(httpPort, '127.0.0.1', r));
  });
  afterAll(() => {
    daemon?.kill();
    http?.close();
  });

  it('git://host/repo.git#ref:subdir builds that branch and directory (git daemon)', async () => {
    const out = outDir();
    const r = await sb.tsbuild(['build', '--progress', 'plain', '-o', `type=local,dest=${out}`, `git://127.0.0.1:${daemonPort}/repo.git#feature:app`]);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(out, 'v.txt'), 'utf8')).toBe('feature branch\n');
  });

  it('http://host/repo.git (smart HTTP) builds the default branch, without its .git dir', async () => {
    const out = outDir();
    const r = await sb.tsbuild(['build', '--progress', 'plain', '-o', `type=local,dest=${out}`, `http://127.0.0.1:${httpPort}/repo.git`]);
    expect(r.code, r.stderr).toBe(0);
    const listing = readFileSync(join(out, 'listing'), 'utf8').split('\n');
    expect(listing).toContain('Dockerfile');
    expect(listing).toContain('app');
    expect(listing).not.toContain('.git');
    const sub = outDir();
    const r2 = await sb.tsbuild(['build', '--progress', 'plain', '-o', `type=local,dest=${sub}`, `http://127.0.0.1:${httpPort}/repo.git#main:app`]);
    expect(r2.code, r2.stderr).toBe(0);
    expect(readFileSync(join(sub, 'v.txt'), 'utf8')).toBe('main branch\n');
  });

  it('a missing ref or repository names the source', async () => {
    const r = await sb.tsbuild(['build', `git://127.0.0.1:${daemonPort}/repo.git#nope`]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/cannot fetch the build context git git:\/\/127\.0\.0\.1:\d+\/repo\.git#nope/);
    const sub = await sb.tsbuild(['build', `git://127.0.0.1:${daemonPort}/repo.git#main:nodir`]);
    expect(sub.stderr).toMatch(/the repository has no directory "nodir"/);
  });
  it('--build-context NAME=<git url> is fetched like a git context and read like a directory context', async () => {
    const tmp = join(sb.dir, `bc-tmp-${n}`);
    mkdirSync(tmp);
    const ctx = join(sb.dir, `bc-git-${++n}`);
    mkdirSync(ctx);
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM busybox:latest\nCOPY --from=lib v.txt /v.txt\n');
    const out = outDir();
    const r = await sb.tsbuild(['build', '--progress', 'plain', '--build-context', `lib=git://127.0.0.1:${daemonPort}/repo.git#feature:app`, '-o', `type=local,dest=${out}`, ctx], { env: { TMPDIR: tmp } });
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(out, 'v.txt'), 'utf8')).toBe('feature branch\n');
    expect(readdirSync(tmp)).toEqual([]); // its temp checkout is removed when the build ends
  });

  it('ADD <git url>: the checkout (ref, subdir) lands in the destination without .git unless --keep-git-dir; keyed by the commit', async () => {
    const ctx = join(sb.dir, `add-git-${++n}`);
    mkdirSync(ctx);
    const daemonUrl = `git://127.0.0.1:${daemonPort}/repo.git`;
    const httpUrl = `http://127.0.0.1:${httpPort}/repo.git`;
    writeFileSync(
      join(ctx, 'Dockerfile'),
      `FROM busybox:latest\nADD ${daemonUrl}#feature:app /feat/\nADD --keep-git-dir=true ${httpUrl} /kept/\nADD ${httpUrl}#main /plain/\nRUN ls -A /feat /plain > /ls && git_head=$(cat /kept/.git/HEAD) && echo "$git_head" > /head\n`,
    );
    const build = async () => {
      const out = outDir();
      const r = await sb.tsbuild(['build', '--progress', 'plain', '-o', `type=local,dest=${out}`, ctx]);
      expect(r.code, r.stderr).toBe(0);
      return { out, r };
    };
    const first = await build();
    expect(readFileSync(join(first.out, 'feat', 'v.txt'), 'utf8')).toBe('feature branch\n');
    expect(readFileSync(join(first.out, 'ls'), 'utf8')).toBe('/feat:\nDockerfile\nv.txt\n\n/plain:\nDockerfile\napp\n');
    // --keep-git-dir keeps the checkout's .git, at the resolved commit.
    const mainCommit = git(join(base, 'repo.git'), 'rev-parse', 'main').trim();
    expect(readFileSync(join(first.out, 'head'), 'utf8').trim()).toBe(mainCommit);
    // Unchanged commits: every ADD is a hit. A new commit on main: the main checkouts rerun, the feature one does not.
    const again = await build();
    expect(again.r.stderr.match(/ADD .*\n#\d+ CACHED/g)?.length).toBe(3);
    const work = join(base, 'work');
    writeFileSync(join(work, 'new.txt'), 'new\n');
    git(work, 'add', 'new.txt');
    git(work, 'commit', '-qm', 'three');
    git(work, 'push', '-q', join(base, 'repo.git'), 'main');
    const moved = await build();
    expect(moved.r.stderr).toMatch(/\[internal\] git http:\S+\/repo\.git\n#\d+ cache miss: git commit changed: [0-9a-f]{12} → [0-9a-f]{12}/);
    expect(moved.r.stderr).toMatch(/ADD \S+#feature:app \/feat\/\n#\d+ CACHED/);
    expect(readFileSync(join(moved.out, 'plain', 'new.txt'), 'utf8')).toBe('new\n');
    // A ref that does not exist names the source.
    writeFileSync(join(ctx, 'Dockerfile'), `FROM busybox:latest\nADD ${daemonUrl}#nope /x/\n`);
    const bad = await sb.tsbuild(['build', '--progress', 'plain', ctx]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/cannot fetch git:\/\/127\.0\.0\.1:\d+\/repo\.git#nope: .*no ref "nope"/);
  });
});

describe('https tarball context', () => {
  let server: Server;
  let port: number;
  let ca: string;
  beforeAll(async () => {
    const dir = join(sb.dir, 'tls');
    mkdirSync(dir);
    const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=tsbuild context CA');
    ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1');
    writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
    ssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '2', '-extfile', 'san.ext');
    ca = join(dir, 'ca.crt');
    const src = join(sb.dir, 'tarball-src');
    mkdirSync(src);
    writeFileSync(join(src, 'Dockerfile'), 'FROM busybox:latest\nCOPY t.txt /t.txt\n');
    writeFileSync(join(src, 't.txt'), 'from an https tarball\n');
    const tgz = execFileSync('tar', ['-czf', '-', '-C', src, '.']);
    server = createHttpsServer({ key: readFileSync(join(dir, 'server.key')), cert: readFileSync(join(dir, 'server.crt')) }, (req, res) => {
      if (req.url === '/ctx.tar.gz') res.end(tgz);
      else res.writeHead(404).end();
    });
    port = await freePort();
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  });
  afterAll(() => server?.close());

  it('downloads and unpacks it (CA from NODE_EXTRA_CA_CERTS); an untrusted certificate and a 404 fail clearly', async () => {
    const out = outDir();
    const url = `https://127.0.0.1:${port}/ctx.tar.gz`;
    const r = await sb.tsbuild(['build', '--progress', 'plain', '-o', `type=local,dest=${out}`, url], { env: { NODE_EXTRA_CA_CERTS: ca } });
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(out, 't.txt'), 'utf8')).toBe('from an https tarball\n');
    const untrusted = await sb.tsbuild(['build', url]);
    expect(untrusted.code).not.toBe(0);
    expect(untrusted.stderr).toMatch(/cannot download the build context https:\/\/127\.0\.0\.1:\d+\/ctx\.tar\.gz: (SELF_SIGNED|UNABLE_TO|DEPTH_ZERO)/);
    const missing = await sb.tsbuild(['build', `https://127.0.0.1:${port}/nope.tar.gz`], { env: { NODE_EXTRA_CA_CERTS: ca } });
    expect(missing.stderr).toMatch(/nope\.tar\.gz: HTTP 404/);
  });
});
