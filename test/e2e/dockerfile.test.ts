/**
 * End-to-end builds for the Dockerfile features whose meaning lives in the filesystem (COPY rules, chown
 * by name, heredocs, ONBUILD, ADD of archives and URLs), plus the CLI's --check, -f - and skipped stages.
 * Real CLI, runc and overlayfs; images exported as OCI archives and unpacked with umoci.
 */
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { suiteSandbox, listTree, skopeoInspectConfig, umociUnpack } from './harness.js';

const sb = suiteSandbox();
let n = 0;

/** A fresh context dir holding `files` (path → content; a value starting with "->" makes a symlink). */
function context(files: Record<string, string>): string {
  const dir = join(sb.dir, `dctx-${++n}`);
  mkdirSync(dir, { recursive: true });
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(join(dir, rel, '..'), { recursive: true });
    if (content.startsWith('->')) symlinkSync(content.slice(2), join(dir, rel));
    else writeFileSync(join(dir, rel), content);
  }
  return dir;
}

/** Build `ctx` to an OCI archive and return the unpacked rootfs and the image config. */
async function buildRootfs(ctx: string, extra: string[] = []): Promise<{ rootfs: string; config: Record<string, any>; stderr: string }> {
  const out = join(sb.dir, `out-${++n}.tar`);
  const res = await sb.build(['--output', `type=oci,dest=${out},name=t:${n}`, ...extra, ctx]);
  return { rootfs: umociUnpack(sb, out, String(n)), config: skopeoInspectConfig(out), stderr: res.stderr };
}

describe('COPY and ADD into the filesystem', () => {
  it('follows Docker’s COPY rules: wildcards, trailing slashes, directory contents, symlinks, --parents, --exclude, --chmod', async () => {
    const ctx = context({
      Dockerfile: [
        'FROM busybox',
        'WORKDIR /w',
        'COPY *.txt /texts/',
        'COPY a.txt /file-not-dir',
        'COPY a.txt rel/',
        'COPY dir /contents',
        'COPY --parents pkgs/*/package.json /mono/',
        'COPY --exclude=*.log --exclude=cache dir /filtered/',
        'COPY --chmod=u+x,go-r a.txt /modes/sym',
        'COPY --chmod=600 a.txt /modes/oct',
        'COPY link.txt /followed-top-level',
      ].join('\n'),
      'a.txt': 'A',
      'b.txt': 'B',
      'dir/x': 'X',
      'dir/sub/y': 'Y',
      'dir/debug.log': 'L',
      'dir/cache/c': 'C',
      'dir/rel-link': '->x',
      'pkgs/one/package.json': '{}',
      'pkgs/two/package.json': '{}',
      'pkgs/two/index.js': '',
      'link.txt': '->a.txt',
    });
    const { rootfs } = await buildRootfs(ctx);
    const t = listTree(rootfs).filter((p) => /^(texts|file-not-dir|w|contents|mono|filtered|modes|followed)/.test(p));
    expect(t).toEqual([
      'contents/', 'contents/cache/', 'contents/cache/c', 'contents/debug.log', 'contents/rel-link', 'contents/sub/', 'contents/sub/y', 'contents/x',
      'file-not-dir',
      'filtered/', 'filtered/rel-link', 'filtered/sub/', 'filtered/sub/y', 'filtered/x',
      'followed-top-level',
      'modes/', 'modes/oct', 'modes/sym',
      'mono/', 'mono/pkgs/', 'mono/pkgs/one/', 'mono/pkgs/one/package.json', 'mono/pkgs/two/', 'mono/pkgs/two/package.json',
      'texts/', 'texts/a.txt', 'texts/b.txt', 'texts/link.txt',
      'w/', 'w/rel/', 'w/rel/a.txt',
    ]);
    expect(readlinkSync(join(rootfs, 'contents/rel-link'))).toBe('x'); // symlinks inside a copied dir stay symlinks
    expect(lstatSync(join(rootfs, 'followed-top-level')).isFile()).toBe(true); // a named symlink is followed
    expect(lstatSync(join(rootfs, 'texts/link.txt')).isFile()).toBe(true); // so is one a wildcard matches
    expect(readFileSync(join(rootfs, 'followed-top-level'), 'utf8')).toBe('A');
    expect(lstatSync(join(rootfs, 'modes/oct')).mode & 0o7777).toBe(0o600);
    const ctxMode = lstatSync(join(ctx, 'a.txt')).mode & 0o7777;
    expect(lstatSync(join(rootfs, 'modes/sym')).mode & 0o7777).toBe((ctxMode | 0o100) & ~0o044);
  });

  it('resolves --chown names from the image’s /etc/passwd and /etc/group, and reports an unknown user at its line', async () => {
    const ctx = context({
      Dockerfile: [
        'FROM busybox',
        "RUN echo 'app:x:1234:4321::/home/app:/bin/sh' >> /etc/passwd && echo 'staff:x:777:' >> /etc/group",
        'COPY --chown=app a.txt /by-user',
        'COPY --chown=app:staff a.txt /by-user-group',
        'COPY --chown=42:43 a.txt /numeric',
        'WORKDIR /w',
        'USER app',
        'WORKDIR /w/owned',
      ].join('\n'),
      'a.txt': 'A',
    });
    const { rootfs } = await buildRootfs(ctx);
    const owner = (p: string) => { const st = lstatSync(join(rootfs, p)); return [st.uid, st.gid]; };
    expect(owner('by-user')).toEqual([1234, 4321]);
    expect(owner('by-user-group')).toEqual([1234, 777]);
    expect(owner('numeric')).toEqual([42, 43]);
    expect(owner('w/owned')).toEqual([1234, 4321]);

    const bad = context({ Dockerfile: 'FROM busybox\nCOPY --chown=nosuchuser a.txt /x\n', 'a.txt': 'A' });
    const res = await sb.tsbuild(['build', '--progress', 'plain', bad]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/unable to find user nosuchuser/);
    expect(res.stderr).toMatch(/Dockerfile:2:1\n/);
    expect(res.stderr).toMatch(/   2 \| COPY --chown=nosuchuser a\.txt \/x\n {5}\| \^/);
    expect(res.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('exports whiteouts: a file a RUN deletes after a COPY is gone, its directory keeps the new file', async () => {
    const ctx = context({
      Dockerfile: ['FROM busybox', 'COPY dir /data', 'RUN rm /data/x && rm -r /data/sub', 'COPY b.txt /data/'].join('\n'),
      'dir/x': 'X',
      'dir/sub/y': 'Y',
      'b.txt': 'B',
    });
    const { rootfs } = await buildRootfs(ctx);
    expect(listTree(join(rootfs, 'data'))).toEqual(['b.txt']);
  });

  it('extracts ADD of local tar archives (gzip, bzip2, xz, plain) and copies other files unchanged', async () => {
    const ctx = context({ Dockerfile: '', 'payload/hello.txt': 'hello', 'payload/bin/tool': 'tool', 'fake.tar.gz': 'not an archive' });
    for (const [name, flag] of [['p.tar.gz', '-z'], ['p.tar.bz2', '-j'], ['p.tar.xz', '-J'], ['p.tar', '']] as const) {
      execFileSync('tar', ['-c', ...(flag ? [flag] : []), '-f', join(ctx, name), '-C', join(ctx, 'payload'), '.']);
    }
    writeFileSync(
      join(ctx, 'Dockerfile'),
      ['FROM busybox', 'ADD p.tar.gz /gz/', 'ADD p.tar.bz2 /bz2', 'ADD p.tar.xz /xz/', 'ADD p.tar /plain/', 'ADD fake.tar.gz /fake/', 'COPY p.tar.gz /copied/', 'ADD --unpack=false p.tar.xz /kept/'].join('\n'),
    );
    const { rootfs } = await buildRootfs(ctx);
    for (const d of ['gz', 'bz2', 'xz', 'plain']) {
      expect(listTree(join(rootfs, d))).toEqual(['bin/', 'bin/tool', 'hello.txt']);
      expect(readFileSync(join(rootfs, d, 'hello.txt'), 'utf8')).toBe('hello');
    }
    expect(listTree(join(rootfs, 'fake'))).toEqual(['fake.tar.gz']);
    expect(listTree(join(rootfs, 'copied'))).toEqual(['p.tar.gz']);
    expect(listTree(join(rootfs, 'kept'))).toEqual(['p.tar.xz']);
  });
});

describe('heredocs', () => {
  it('runs RUN heredocs (several on a line, <<-, quoted) and writes COPY heredocs with expansion rules', async () => {
    const ctx = context({
      Dockerfile: [
        'FROM busybox',
        'ARG NAME=world',
        'RUN <<EOF',
        'echo "hello $NAME" > /run1',
        'echo second line >> /run1',
        'EOF',
        'RUN <<A cat > /a && <<B cat > /b',
        'first',
        'A',
        'second',
        'B',
        'RUN <<-EOF',
        '\techo tabs > /chomped',
        '\tEOF',
        'COPY <<EOF /etc/expanded.conf',
        'name=$NAME "quoted" \\$literal',
        'EOF',
        "COPY <<'EOF' /etc/raw.conf",
        'name=$NAME',
        'EOF',
        'COPY --chmod=755 <<EOF /usr/local/bin/hi',
        '#!/bin/sh',
        'echo hi',
        'EOF',
        'RUN /usr/local/bin/hi > /hi.out',
        'RUN <<EOF',
        '#!/bin/sh -e',
        'echo "from $0" > /shebang.out',
        'EOF',
      ].join('\n'),
    });
    const { rootfs } = await buildRootfs(ctx);
    const read = (p: string) => readFileSync(join(rootfs, p), 'utf8');
    expect(read('run1')).toBe('hello world\nsecond line\n');
    expect(read('a')).toBe('first\n');
    expect(read('b')).toBe('second\n');
    expect(read('chomped')).toBe('tabs\n');
    expect(read('etc/expanded.conf')).toBe('name=world "quoted" $literal\n');
    expect(read('etc/raw.conf')).toBe('name=$NAME\n');
    expect(lstatSync(join(rootfs, 'usr/local/bin/hi')).mode & 0o777).toBe(0o755);
    expect(read('hi.out')).toBe('hi\n');
    // A #! heredoc runs as a file under /dev/pipes (mounted only for the step, never in the image).
    expect(read('shebang.out')).toBe('from /dev/pipes/EOF\n');
    expect(existsSync(join(rootfs, 'dev/pipes'))).toBe(false);
  });
});

describe('ONBUILD', () => {
  it('stores triggers in the config and runs them when the image is used as a base', async () => {
    const base = context({ Dockerfile: 'FROM busybox\nONBUILD COPY marker.txt /from-trigger.txt\nONBUILD RUN echo ran > /trigger-ran\n' });
    await sb.build(['-t', 'onbuild-base:1', base]);
    const child = context({ Dockerfile: 'FROM onbuild-base:1\nRUN test -f /trigger-ran\n', 'marker.txt': 'M' });
    const { rootfs, config } = await buildRootfs(child);
    expect(readFileSync(join(rootfs, 'from-trigger.txt'), 'utf8')).toBe('M');
    expect(readFileSync(join(rootfs, 'trigger-ran'), 'utf8')).toBe('ran\n');
    expect(config.config.OnBuild ?? null).toBeNull(); // triggers run once, not inherited
  });
});

describe('ADD <url>', () => {
  let server: Server;
  let base = '';
  let hits = 0;
  const body = 'downloaded content\n';
  const digest = 'sha256:' + createHash('sha256').update(body).digest('hex');
  beforeAll(async () => {
    server = createServer((req, res) => {
      hits++;
      if (req.url === '/files/tool.sh') {
        res.writeHead(200, { 'last-modified': 'Wed, 21 Oct 2015 07:28:00 GMT' });
        res.end(body);
      } else {
        res.writeHead(404);
        res.end('nope');
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('downloads into the image (0600, Last-Modified), verifies --checksum, and caches on the checksum', async () => {
    const df = `FROM busybox\nADD ${base}/files/tool.sh /dl/\nADD --checksum=${digest} --chmod=755 ${base}/files/tool.sh /bin/tool\n`;
    const ctx = context({ Dockerfile: df });
    const { rootfs } = await buildRootfs(ctx);
    const st = lstatSync(join(rootfs, 'dl/tool.sh'));
    expect(readFileSync(join(rootfs, 'dl/tool.sh'), 'utf8')).toBe(body);
    expect(st.mode & 0o7777).toBe(0o600);
    expect(st.mtime.toISOString()).toBe('2015-10-21T07:28:00.000Z');
    expect(lstatSync(join(rootfs, 'bin/tool')).mode & 0o7777).toBe(0o755);

    // Without --checksum the key is the content's digest: a rebuild downloads again, and hits the cache.
    hits = 0;
    const same = await sb.build([ctx]);
    expect(hits).toBeGreaterThan(0);
    expect(same.stderr).toMatch(/ADD http\S+ \/dl\/\n#\d+ CACHED/);
    // With --checksum the key needs no download: once built, a rebuild does not touch the server.
    const only = context({ Dockerfile: `FROM busybox\nADD --checksum=${digest} --chmod=755 ${base}/files/tool.sh /bin/tool\n` });
    await sb.build([only]);
    hits = 0;
    const again = await sb.build([only]);
    expect(hits).toBe(0);
    expect(again.stderr).toMatch(/ADD --checksum=\S+ --chmod=755 \S+ \/bin\/tool\n#\d+ CACHED/);
  });

  it('fails clearly on a checksum mismatch and on a 404', async () => {
    const wrong = 'sha256:' + '0'.repeat(64);
    const r1 = await sb.tsbuild(['build', '--progress', 'plain', context({ Dockerfile: `FROM busybox\nADD --checksum=${wrong} ${base}/files/tool.sh /x\n` })]);
    expect(r1.code).toBe(1);
    expect(r1.stderr).toMatch(/expected digest sha256:0{64}, got sha256:/);
    const r2 = await sb.tsbuild(['build', '--progress', 'plain', context({ Dockerfile: `FROM busybox\nADD ${base}/missing /x\n` })]);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(/404/);
  });
});

describe('the CLI around the Dockerfile', () => {
  it('--check prints each check with file:line, builds nothing, exits 1; a clean Dockerfile exits 0', async () => {
    const ctx = context({ Dockerfile: 'FROM busybox\nMAINTAINER me\nCMD echo hi\nRUN false\n' });
    const runsBefore = sb.runcRuns();
    const res = await sb.tsbuild(['build', '--check', '--progress', 'plain', ctx]);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/WARNING: \S*Dockerfile:2: MaintainerDeprecated: Maintainer instruction is deprecated/);
    expect(res.stderr).toMatch(/WARNING: \S*Dockerfile:3: JSONArgsRecommended: JSON arguments recommended for CMD/);
    expect(res.stderr).toMatch(/Check complete, 2 warnings have been found!/);
    expect(sb.runcRuns()).toBe(runsBefore);
    const clean = await sb.tsbuild(['build', '--check', '--progress', 'plain', context({ Dockerfile: 'FROM busybox\nCMD ["sh"]\n' })]);
    expect(clean.code).toBe(0);
    // The same warnings are printed on a normal build.
    const normal = await sb.build([context({ Dockerfile: 'FROM busybox\nCMD echo hi\n' })]);
    expect(normal.stderr).toMatch(/JSONArgsRecommended/);
  });

  it('reads the Dockerfile from stdin with -f -', async () => {
    const ctx = context({ 'a.txt': 'from context' });
    const child = sb.spawn(['build', '--progress', 'plain', '-f', '-', '--output', `type=oci,dest=${join(sb.dir, 'stdin.tar')},name=stdin:1`, ctx]);
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdin.end('FROM busybox\nCOPY a.txt /a.txt\n');
    const code = await new Promise<number | null>((r) => child.on('close', r));
    expect(stderr).toMatch(/COPY a\.txt \/a\.txt/);
    expect(code).toBe(0);
    const rootfs = umociUnpack(sb, join(sb.dir, 'stdin.tar'), '1');
    expect(readFileSync(join(rootfs, 'a.txt'), 'utf8')).toBe('from context');
  });

  it('shows unreachable stages as skipped, warns about unused --build-arg, and points a caret at a bad line', async () => {
    const ctx = context({ Dockerfile: 'FROM busybox AS unused\nRUN false\nFROM busybox\nRUN true\n' });
    const res = await sb.build(['--build-arg', 'NOBODY=1', ctx]);
    expect(res.stderr).toMatch(/\[unused\] stage unused SKIPPED/);
    expect(res.stderr).toMatch(/build-args \[NOBODY\] were not consumed/);
    const bad = await sb.tsbuild(['build', context({ Dockerfile: 'FROM busybox\nCOPY --chmod=u+z a /a\n' })]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/Dockerfile:2:6\n/);
    expect(bad.stderr).toMatch(/   2 \| COPY --chmod=u\+z a \/a\n {5}\| {6}\^/);
    expect(existsSync(join(sb.root, 'images'))).toBe(true);
  });
});
