/**
 * Differential builds: the same Dockerfiles built by tsbuild and by Debian's buildah (which follows
 * Docker's semantics; `--isolation chroot`, vfs storage), base image shared as an OCI archive. The
 * resulting filesystems (type, mode, owner, content, link target under the compared paths) and image
 * configs must agree. Where buildah and BuildKit differ, BuildKit is right: such cases are left out and
 * said so here. Skipped when buildah is not installed.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox, skopeoInspectConfig, umociUnpack } from './harness.js';

// buildah is a test dependency (scripts/test.sh installs it): without it this suite fails, it never skips.

let sb: Sandbox;
let baseTar = '';
let n = 0;
beforeAll(async () => {
  execFileSync('buildah', ['--version'], { stdio: 'pipe' }); // fails with a clear ENOENT when buildah is missing
  sb = new Sandbox();
  sb.makeBaseImage();
  const ctx = join(sb.dir, 'base-ctx');
  mkdirSync(ctx);
  writeFileSync(join(ctx, 'Dockerfile'), 'FROM busybox\n');
  baseTar = join(sb.dir, 'base.tar');
  await sb.build(['--output', `type=oci,dest=${baseTar},name=busybox:latest`, ctx]);
}, 120_000);
afterAll(() => {
  if (!sb) return;
  // buildah's vfs layers are plain dirs owned by root; the sandbox removal takes them too.
  sb.cleanup();
});

interface Built {
  rootfs: string;
  config: Record<string, any>;
}

function buildah(args: string[], cwd: string): void {
  const store = join(sb.dir, 'buildah');
  execFileSync('buildah', ['--root', join(store, 'root'), '--runroot', join(store, 'run'), '--storage-driver', 'vfs', ...args], { cwd, stdio: 'pipe' });
}

async function both(files: Record<string, string>, setup?: (ctx: string) => void): Promise<{ ts: Built; bh: Built }> {
  const ctx = join(sb.dir, `diff-${++n}`);
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(join(ctx, rel, '..'), { recursive: true });
    writeFileSync(join(ctx, rel), content);
  }
  setup?.(ctx);
  const tsOut = join(sb.dir, `ts-${n}.tar`);
  await sb.build(['--output', `type=oci,dest=${tsOut},name=ts:${n}`, ctx]);
  const df = readFileSync(join(ctx, 'Dockerfile'), 'utf8').replace(/^FROM busybox$/gm, `FROM oci-archive:${baseTar}`);
  writeFileSync(join(ctx, 'Dockerfile.buildah'), df);
  const bhOut = join(sb.dir, `bh-${n}.tar`);
  buildah(['bud', '--isolation', 'chroot', '--layers=false', '-f', 'Dockerfile.buildah', '-t', `case${n}`, '.'], ctx);
  buildah(['push', `case${n}`, `oci-archive:${bhOut}:bh${n}`], ctx);
  return {
    ts: { rootfs: umociUnpack(sb, tsOut, String(n)), config: skopeoInspectConfig(tsOut) },
    bh: { rootfs: umociUnpack(sb, bhOut, `bh${n}`), config: skopeoInspectConfig(bhOut) },
  };
}

/** type, mode, owner and content (or link target) of everything under `paths`. */
function describeTree(root: string, paths: string[]): string[] {
  const out: string[] = [];
  // Every compared path must exist in the tsbuild image (a tree both sides lack proves nothing).
  if (root.includes('/layout-')) for (const p of paths) expect(existsSync(join(root, p)), `${p} in ${root}`).toBe(true);
  const visit = (rel: string) => {
    const host = join(root, rel);
    if (!existsSync(host) && !isLink(host)) return out.push(`${rel} MISSING`);
    const st = lstatSync(host);
    const meta = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
    if (st.isSymbolicLink()) out.push(`${rel} -> ${readlinkSync(host)} ${st.uid}:${st.gid}`);
    else if (st.isDirectory()) {
      out.push(`${rel}/ ${meta}`);
      for (const name of readdirSync(host).sort()) visit(`${rel}/${name}`);
    } else out.push(`${rel} ${meta} ${createHash('sha256').update(readFileSync(host)).digest('hex').slice(0, 12)}`);
  };
  for (const p of paths) visit(p);
  return out;
}

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}

const CONFIG_KEYS = ['Env', 'Cmd', 'Entrypoint', 'WorkingDir', 'User', 'ExposedPorts', 'Volumes', 'Labels', 'StopSignal', 'OnBuild'];
function configOf(c: Record<string, any>): Record<string, unknown> {
  const cfg = c.config ?? {};
  const out: Record<string, unknown> = {};
  for (const k of CONFIG_KEYS) {
    let v = cfg[k];
    if (k === 'Labels' && v) v = Object.fromEntries(Object.entries(v).filter(([key]) => !key.startsWith('io.buildah.'))); // buildah's own label
    // Order differs where BuildKit is right: it replaces a variable in place (`ENV PATH=...` keeps PATH
    // first, as the golden tests check), buildah moves it to the end. Compared as a set.
    if (k === 'Env' && Array.isArray(v)) v = [...v].sort();
    if (v !== undefined && v !== null && !(Array.isArray(v) && v.length === 0) && !(typeof v === 'object' && Object.keys(v).length === 0) && v !== '') out[k] = v;
  }
  return out;
}

describe('tsbuild and buildah agree (differential)', () => {
  it('COPY rules: wildcards, directories, trailing slashes, WORKDIR-relative destinations, symlinks', async () => {
    const { ts, bh } = await both(
      {
        Dockerfile: ['FROM busybox', 'WORKDIR /w', 'COPY *.txt /texts/', 'COPY a.txt /file', 'COPY a.txt rel/', 'COPY dir /contents', 'COPY a.txt b.txt ./both/'].join('\n') + '\n',
        'a.txt': 'A',
        'b.txt': 'B',
        'dir/x': 'X',
        'dir/sub/y': 'Y',
      },
      (ctx) => execFileSync('ln', ['-s', 'x', join(ctx, 'dir/link')]),
    );
    const paths = ['texts', 'file', 'w', 'contents'];
    // Modes of context files depend on the umask; both read the same files, so they must agree.
    expect(describeTree(ts.rootfs, paths)).toEqual(describeTree(bh.rootfs, paths));
    expect(configOf(ts.config)).toEqual(configOf(bh.config));
  });

  it('--chown by name (from the image’s passwd/group), numeric, and --chmod', async () => {
    const { ts, bh } = await both({
      Dockerfile: [
        'FROM busybox',
        "RUN echo 'app:x:1234:4321::/home/app:/bin/sh' >> /etc/passwd && echo 'staff:x:777:' >> /etc/group",
        'COPY --chown=app a.txt /o/user',
        'COPY --chown=app:staff a.txt /o/user-group',
        'COPY --chown=42:43 dir /o/numeric',
        'COPY --chmod=640 a.txt /o/mode',
      ].join('\n') + '\n',
      'a.txt': 'A',
      'dir/x': 'X',
    });
    expect(describeTree(ts.rootfs, ['o'])).toEqual(describeTree(bh.rootfs, ['o']));
  });

  it('ADD extracts local tar archives (gzip, bzip2, xz) and copies other files', async () => {
    const { ts, bh } = await both(
      {
        Dockerfile: ['FROM busybox', 'ADD p.tar.gz /gz/', 'ADD p.tar.bz2 /bz2/', 'ADD p.tar.xz /xz/', 'ADD plain.txt /plain/'].join('\n') + '\n',
        'payload/hello.txt': 'hello',
        'payload/bin/tool': 'tool',
        'plain.txt': 'plain',
      },
      (ctx) => {
        for (const [name, flag] of [['p.tar.gz', '-z'], ['p.tar.bz2', '-j'], ['p.tar.xz', '-J']] as const) {
          execFileSync('tar', ['-c', flag, '--owner=0', '--group=0', '-f', join(ctx, name), '-C', join(ctx, 'payload'), 'hello.txt', 'bin']);
        }
      },
    );
    const paths = ['gz', 'bz2', 'xz', 'plain'];
    expect(describeTree(ts.rootfs, paths)).toEqual(describeTree(bh.rootfs, paths));
  });

  it('the image config: ENV (both forms), LABEL, EXPOSE, VOLUME, USER, WORKDIR, STOPSIGNAL, CMD/ENTRYPOINT, ONBUILD, ARG expansion', async () => {
    const { ts, bh } = await both({
      Dockerfile: [
        'FROM busybox',
        'ARG PORT=8080',
        'ENV LEGACY value with spaces',
        'ENV A=1 B="two words" C=${PORT}',
        'ENV PATH=/opt/bin:$PATH',
        'LABEL "com.example.vendor"="ACME Inc" version=1.0 port=$PORT',
        // Not compared: a port range (BuildKit stores 9000/tcp and 9001/tcp, buildah "9000-9001/tcp").
        'EXPOSE $PORT 53/udp',
        'VOLUME ["/data"]',
        'VOLUME /logs /cache',
        'WORKDIR /app',
        'WORKDIR sub',
        'USER nobody:nogroup',
        'STOPSIGNAL SIGQUIT',
        'ONBUILD RUN echo child',
        'ENTRYPOINT ["/bin/echo"]',
        'CMD ["hello"]',
      ].join('\n') + '\n',
    });
    expect(configOf(ts.config)).toEqual(configOf(bh.config));
    expect(describeTree(ts.rootfs, ['app'])).toEqual(describeTree(bh.rootfs, ['app']));
  });
});
