/**
 * Every build output through the real CLI, each read back by an independent tool (skopeo with the
 * oci-archive:, docker-archive: and oci: transports, umoci, GNU tar); --iidfile and --metadata-file;
 * `-o -`; --load against no daemon and against a stand-in daemon socket; unwritable destinations.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Sandbox, listTree, repo, skopeoInspect, standInDockerDaemon, umociUnpack } from './harness.js';
import { TestRegistry } from '../registry/harness.js';

let sb: Sandbox;
let ctx: string;
beforeAll(() => {
  sb = new Sandbox();
  sb.makeBaseImage();
  ctx = join(sb.dir, 'ctx');
  mkdirSync(ctx);
  writeFileSync(join(ctx, 'hello.txt'), 'hello\n');
  writeFileSync(
    join(ctx, 'Dockerfile'),
    ['FROM busybox:latest', 'LABEL stage=final', 'COPY hello.txt /hello.txt', 'RUN echo built > /built.txt && mkdir -p /data && echo x > /data/x', 'ENV FOO=bar', 'CMD ["cat", "/hello.txt"]', ''].join('\n'),
  );
});
afterAll(() => sb?.cleanup());

const skopeo = (...args: string[]) => JSON.parse(execFileSync('skopeo', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString());
const tarList = (file: string) => execFileSync('tar', ['-tf', file], { maxBuffer: 1 << 26 }).toString().trim().split('\n').map((n) => n.replace(/^\.\//, '')).filter((n) => n !== '' && n !== '.').sort();
const treeAsTarNames = (dir: string) => listTree(dir).map((p) => p).sort();

describe('build outputs', () => {
  it('writes image, oci (tar and layout), docker, local and tar outputs in one build; each reads back', async () => {
    const d = join(sb.dir, 'all');
    mkdirSync(d);
    await sb.build(
      [
        '-t', 'app:v1', '--label', 'org.example.flag=yes',
        '-o', 'type=image',
        '-o', `type=oci,dest=${d}/oci.tar`,
        '-o', `type=oci,dest=${d}/layout,tar=false`,
        '-o', `type=docker,dest=${d}/docker.tar,"name=app:v1,app:extra"`,
        '-o', `type=local,dest=${d}/rootfs`,
        '-o', `type=tar,dest=${d}/rootfs.tar`,
        '--iidfile', `${d}/iid`, '--metadata-file', `${d}/md.json`,
        ctx,
      ],
    );
    const md = JSON.parse(readFileSync(`${d}/md.json`, 'utf8'));
    const digest = md['containerimage.digest'];
    expect(md['containerimage.config.digest']).toBe(readFileSync(`${d}/iid`, 'utf8'));
    expect(md['image.name']).toBe('docker.io/library/app:v1');
    expect(md['tsbuild.steps'].map((s: { name: string }) => s.name)).toEqual(expect.arrayContaining([expect.stringMatching(/RUN echo built/)]));
    for (const s of md['tsbuild.steps']) expect(s).toMatchObject({ cached: expect.any(Boolean), durationMs: expect.any(Number) });

    // image store
    const inspect = JSON.parse((await sb.tsbuild(['inspect', 'app:v1'])).stdout)[0];
    expect(inspect.Descriptor.digest).toBe(digest);
    expect(inspect.Id).toBe(md['containerimage.config.digest']);
    expect(inspect.Config.config.Labels).toEqual({ stage: 'final', 'org.example.flag': 'yes' });
    expect(inspect.Config.history.at(-1)).toMatchObject({ created_by: 'CMD ["cat" "/hello.txt"]', empty_layer: true });
    expect(inspect.Config.history.filter((h: { empty_layer?: boolean }) => !h.empty_layer)).toHaveLength(inspect.Config.rootfs.diff_ids.length);
    // the base image's history and layers come first, unchanged
    const base = JSON.parse((await sb.tsbuild(['inspect', 'busybox:latest'])).stdout)[0];
    expect(inspect.Config.history.slice(0, base.Config.history.length)).toEqual(base.Config.history);
    expect(inspect.Config.rootfs.diff_ids.slice(0, base.Config.rootfs.diff_ids.length)).toEqual(base.Config.rootfs.diff_ids);
    expect(inspect.Config.history.slice(base.Config.history.length).map((h: { created_by: string }) => h.created_by)).toEqual([
      'LABEL stage=final',
      'COPY hello.txt /hello.txt # buildkit',
      'RUN /bin/sh -c echo built > /built.txt && mkdir -p /data && echo x > /data/x # buildkit',
      'ENV FOO=bar',
      'CMD ["cat" "/hello.txt"]',
    ]);

    // The store keeps the build's layers uncompressed; the archives carry them gzip-compressed: the same
    // image ID (config), another manifest.
    const stored = JSON.parse((await sb.tsbuild(['inspect', 'app:v1'])).stdout)[0].Manifest;
    const built = stored.layers.slice(base.Config.rootfs.diff_ids.length);
    expect(built.map((l: { mediaType: string }) => l.mediaType)).toEqual(built.map(() => 'application/vnd.oci.image.layer.v1.tar'));
    const ociRaw = JSON.parse(execFileSync('skopeo', ['inspect', '--raw', `oci-archive:${d}/oci.tar`]).toString());
    expect(ociRaw.config.digest).toBe(md['containerimage.config.digest']);
    expect(new Set(ociRaw.layers.map((l: { mediaType: string }) => l.mediaType))).toEqual(new Set(['application/vnd.oci.image.layer.v1.tar+gzip']));
    // OCI archive + layout: skopeo and umoci
    const ociDigest = skopeoInspect(`${d}/oci.tar`).Digest;
    expect(ociDigest).not.toBe(digest);
    expect(skopeo('inspect', `oci:${d}/layout:v1`).Digest).toBe(ociDigest);
    const rootfs = umociUnpack(sb, `${d}/oci.tar`, 'v1');
    expect(readFileSync(join(rootfs, 'built.txt'), 'utf8')).toBe('built\n');

    // docker archive: skopeo reads both names
    const cfg = skopeo('inspect', '--config', `docker-archive:${d}/docker.tar:app:extra`);
    expect(cfg.config.Env).toContain('FOO=bar');
    const dm = JSON.parse(execFileSync('tar', ['-xOf', `${d}/docker.tar`, 'manifest.json']).toString());
    expect(dm[0].RepoTags).toEqual(['app:v1', 'app:extra']);

    // local and tar: the same tree as umoci's unpack of the image
    const want = treeAsTarNames(rootfs);
    expect(treeAsTarNames(`${d}/rootfs`)).toEqual(want);
    expect(tarList(`${d}/rootfs.tar`).map((n) => n)).toEqual(want);
    expect(readFileSync(`${d}/rootfs/data/x`, 'utf8')).toBe('x\n');
    expect(sb.storeLeftovers()).toEqual([]);
  });

  it('-o DIR is type=local; -o - streams the rootfs tar to stdout', async () => {
    const dir = join(sb.dir, 'short-local', 'nested');
    await sb.build(['-o', dir, ctx]);
    expect(readFileSync(join(dir, 'hello.txt'), 'utf8')).toBe('hello\n');
    const child = sb.spawn(['build', '--progress', 'plain', '-o', '-', ctx]);
    const chunks: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    const code = await new Promise<number>((res) => child.on('close', (c) => res(c ?? -1)));
    expect(code).toBe(0);
    const file = join(sb.dir, 'stdout.tar');
    writeFileSync(file, Buffer.concat(chunks));
    expect(tarList(file)).toEqual(treeAsTarNames(dir));
  });

  it('compression=zstd and oci-mediatypes: the outputs carry their own manifests', async () => {
    const d = join(sb.dir, 'opts');
    mkdirSync(d);
    await sb.build(['-o', `type=oci,dest=${d}/z.tar,compression=zstd,compression-level=3`, '-o', `type=oci,dest=${d}/u.tar,compression=uncompressed,annotation.org.opencontainers.image.title=app`, '--metadata-file', `${d}/md.json`, ctx]);
    const z = skopeo('inspect', '--raw', `oci-archive:${d}/z.tar`);
    expect(new Set(z.layers.map((l: { mediaType: string }) => l.mediaType))).toEqual(new Set(['application/vnd.oci.image.layer.v1.tar+zstd']));
    const u = skopeo('inspect', '--raw', `oci-archive:${d}/u.tar`);
    expect(u.annotations).toEqual({ 'org.opencontainers.image.title': 'app' });
    const cu = skopeo('inspect', '--config', `oci-archive:${d}/u.tar`);
    expect(u.layers.map((l: { digest: string }) => l.digest)).toEqual(cu.rootfs.diff_ids);
    const md = JSON.parse(readFileSync(`${d}/md.json`, 'utf8'));
    expect(md['tsbuild.outputs.digests']).toHaveLength(2);
  });
});

describe('registry outputs', () => {
  it('type=registry (with compression=zstd) and type=image,push=true push what skopeo then reads', async () => {
    const reg = await TestRegistry.start('open');
    try {
      const host = reg.domain;
      await sb.build(['--insecure-registry', host, '-o', `type=registry,name=${host}/app:zstd,compression=zstd`, '-o', `type=image,name=${host}/app:img,push=true`, ctx]);
      const z = skopeo('inspect', '--raw', '--tls-verify=false', `docker://${host}/app:zstd`);
      expect(new Set(z.layers.map((l: { mediaType: string }) => l.mediaType))).toEqual(new Set(['application/vnd.oci.image.layer.v1.tar+zstd']));
      const img = skopeo('inspect', '--raw', '--tls-verify=false', `docker://${host}/app:img`);
      const [local] = JSON.parse((await sb.tsbuild(['inspect', `${host}/app:img`])).stdout);
      // the same image (config) with its layers gzip-compressed; the store keeps the built ones uncompressed
      expect(img.config.digest).toBe(local.Id);
      expect(new Set(img.layers.map((l: { mediaType: string }) => l.mediaType))).toEqual(new Set(['application/vnd.oci.image.layer.v1.tar+gzip']));
      expect(local.Manifest.layers.some((l: { mediaType: string }) => l.mediaType === 'application/vnd.oci.image.layer.v1.tar')).toBe(true);
      // `tsbuild push` of the stored image pushes exactly what the build pushed (same variants, same manifest)
      const digestAt = (ref: string) => execFileSync('skopeo', ['inspect', '--format', '{{.Digest}}', '--tls-verify=false', `docker://${ref}`]).toString().trim();
      const pushedDigest = digestAt(`${host}/app:img`);
      await sb.tsbuild(['push', '--insecure-registry', host, `${host}/app:img`]);
      expect(digestAt(`${host}/app:img`)).toBe(pushedDigest);
      expect(pushedDigest).not.toBe(local.Descriptor.digest);
    } finally {
      await reg.stop();
    }
  });
});

describe('reproducible builds', () => {
  it('SOURCE_DATE_EPOCH + rewrite-timestamp: two --no-cache builds seconds apart give the same digest; without rewrite they differ', async () => {
    const d = join(sb.dir, 'repro');
    mkdirSync(d);
    const digestOf = async (i: number, extra: string[], env: Record<string, string> = {}) => {
      await sb.build(['--no-cache', ...extra, '-o', `type=oci,dest=${d}/${i}.tar${extra.length ? '' : ''}`, '--metadata-file', `${d}/${i}.json`, ctx], { env });
      return skopeoInspect(`${d}/${i}.tar`).Digest;
    };
    const rw = (i: number, how: 'arg' | 'env') =>
      sb
        .build(['--no-cache', ...(how === 'arg' ? ['--build-arg', 'SOURCE_DATE_EPOCH=1700000000'] : []), '-o', `type=oci,dest=${d}/${i}.tar,rewrite-timestamp=true`, '--iidfile', `${d}/${i}.iid`, '--metadata-file', `${d}/${i}.md.json`, ctx], { env: how === 'env' ? { SOURCE_DATE_EPOCH: '1700000000' } : {} })
        .then(() => skopeoInspect(`${d}/${i}.tar`).Digest);
    const a = await rw(1, 'arg');
    await new Promise((r) => setTimeout(r, 1100));
    const b = await rw(2, 'env');
    expect(b).toBe(a);
    // --iidfile and --metadata-file name the image the output stored (the rewritten one), not the build's default.
    const raw = JSON.parse(execFileSync('skopeo', ['inspect', '--raw', `oci-archive:${d}/1.tar`]).toString());
    expect(readFileSync(`${d}/1.iid`, 'utf8')).toBe(raw.config.digest);
    const md = JSON.parse(readFileSync(`${d}/1.md.json`, 'utf8'));
    expect(md['containerimage.digest']).toBe(a);
    expect(md['containerimage.config.digest']).toBe(raw.config.digest);
    const cfg = JSON.parse(execFileSync('skopeo', ['inspect', '--config', `oci-archive:${d}/1.tar`]).toString());
    expect(cfg.created).toBe('2023-11-14T22:13:20Z');
    // the mtimes in the layers are clamped
    const listing = execFileSync('sh', ['-c', `mkdir -p ${d}/x && tar -xf ${d}/1.tar -C ${d}/x && for b in ${d}/x/blobs/sha256/*; do tar -tvzf $b 2>/dev/null || true; done`]).toString();
    expect(listing).toMatch(/built\.txt/);
    for (const line of listing.trim().split('\n')) expect(line.match(/\d{4}-\d\d-\d\d/)![0] <= '2023-11-14').toBe(true);
    // control: the same builds without rewrite-timestamp differ (RUN writes files with the current time)
    const c = await digestOf(3, [], { SOURCE_DATE_EPOCH: '1700000000' });
    await new Promise((r) => setTimeout(r, 1100));
    const e = await digestOf(4, [], { SOURCE_DATE_EPOCH: '1700000000' });
    expect(e).not.toBe(c);
  });
});

describe('--load', () => {
  it('fails before building, with a clear error, when no Docker daemon is reachable', async () => {
    const runs = sb.runcRuns();
    const res = await sb.tsbuild(['build', '--no-cache', '--load', '-t', 'x:1', ctx], { env: { DOCKER_HOST: `unix://${sb.dir}/no-docker.sock` } });
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/--load needs a running Docker daemon, and none is reachable at unix:\/\/.*no-docker\.sock/);
    expect(res.stderr).toMatch(/hint: .*type=docker,dest=/);
    expect(sb.runcRuns()).toBe(runs);
  });

  it('sends a docker-load archive to the daemon socket (a stand-in daemon checks it with skopeo)', async () => {
    const sock = join(sb.dir, 'fake-docker.sock');
    const daemon = await standInDockerDaemon(sock);
    try {
      await sb.build(['--load', '-t', 'app:loaded', ctx], { env: { DOCKER_HOST: `unix://${sock}` } });
    } finally {
      daemon.close();
    }
    const file = join(sb.dir, 'loaded.tar');
    writeFileSync(file, daemon.archive());
    expect(skopeo('inspect', '--config', `docker-archive:${file}:app:loaded`).config.Cmd).toEqual(['cat', '/hello.txt']);
  });
});

describe('unwritable destinations', () => {
  it('a read-only directory: a clear error, no partial file', async () => {
    const ro = join(sb.dir, 'ro');
    mkdirSync(ro);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,ro', 'tmpfs', ro]);
    try {
      for (const spec of [`type=oci,dest=${ro}/o.tar`, `type=docker,dest=${ro}/d.tar`, `type=tar,dest=${ro}/t.tar`, `type=local,dest=${ro}/dir`]) {
        const res = await sb.tsbuild(['build', '--progress', 'plain', '-o', spec, ctx]);
        expect(res.code, spec).not.toBe(0);
        expect(res.stderr).toMatch(/ERROR: cannot write .*: read-only file system/);
      }
      expect(readdirSync(ro)).toEqual([]);
    } finally {
      execFileSync('umount', [ro]);
    }
  });

  it('a tmpfs that fills: "no space left on device", nothing left behind', async () => {
    const small = join(sb.dir, 'small');
    mkdirSync(small);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', small]);
    try {
      for (const spec of [`type=oci,dest=${small}/o.tar`, `type=docker,dest=${small}/d.tar`, `type=tar,dest=${small}/t.tar`, `type=local,dest=${small}/dir`, `type=oci,dest=${small}/lay,tar=false`]) {
        const res = await sb.tsbuild(['build', '--progress', 'plain', '-o', spec, ctx]);
        expect(res.code, spec).not.toBe(0);
        expect(res.stderr, spec).toMatch(/ERROR: cannot write .*: no space left on device/);
        expect(readdirSync(small), spec).toEqual([]);
      }
    } finally {
      execFileSync('umount', [small]);
    }
    expect(existsSync(join(small, 'o.tar'))).toBe(false);
    expect(sb.storeLeftovers()).toEqual([]);
  });
});

describe('image commands', () => {
  it('tag, images, inspect, save (docker and oci), rmi, load: a round trip keeps the digest', async () => {
    await sb.build(['-t', 'cmd:v1', ctx]);
    expect((await sb.tsbuild(['tag', 'cmd:v1', 'registry.example:5000/team/cmd:v2'])).code).toBe(0);
    const images = (await sb.tsbuild(['images'])).stdout;
    expect(images).toMatch(/^REPOSITORY\s+TAG\s+DIGEST\s+CREATED\s+SIZE$/m);
    expect(images).toMatch(/^registry\.example:5000\/team\/cmd\s+v2\s+sha256:[0-9a-f]{12}\s+.*ago\s+\S+B$/m);
    const [info] = JSON.parse((await sb.tsbuild(['inspect', 'cmd:v1'])).stdout);
    expect(info.Names).toEqual(expect.arrayContaining(['docker.io/library/cmd:v1', 'registry.example:5000/team/cmd:v2']));
    // by image ID prefix too
    expect(JSON.parse((await sb.tsbuild(['inspect', info.Id.slice(7, 19)])).stdout)[0].Descriptor.digest).toBe(info.Descriptor.digest);
    const dsave = join(sb.dir, 'save-docker.tar');
    const osave = join(sb.dir, 'save-oci.tar');
    expect((await sb.tsbuild(['save', 'cmd:v1', 'registry.example:5000/team/cmd:v2', '-o', dsave])).code).toBe(0);
    expect((await sb.tsbuild(['save', '--format', 'oci', 'cmd:v1', '-o', osave])).code).toBe(0);
    expect(skopeo('inspect', '--config', `docker-archive:${dsave}:registry.example:5000/team/cmd:v2`).config.Env).toContain('FOO=bar');
    expect(skopeoInspect(osave).Digest).toBe(info.Descriptor.digest);
    const rmi = await sb.tsbuild(['rmi', 'cmd:v1', 'registry.example:5000/team/cmd:v2']);
    expect(rmi.stdout).toBe('Untagged: cmd:v1\nUntagged: registry.example:5000/team/cmd:v2\n');
    expect((await sb.tsbuild(['inspect', 'cmd:v1'])).stderr).toMatch(/no such image: cmd:v1/);
    const load = await sb.tsbuild(['load', '-i', dsave]);
    expect(load.stdout).toBe('Loaded image: cmd:v1\nLoaded image: registry.example:5000/team/cmd:v2\n');
    expect(JSON.parse((await sb.tsbuild(['inspect', 'cmd:v1'])).stdout)[0].Descriptor.digest).toBe(info.Descriptor.digest);
    await sb.tsbuild(['rmi', 'cmd:v1']);
    expect((await sb.tsbuild(['load', '-i', osave])).stdout).toBe('Loaded image: cmd:v1\n');
    expect(JSON.parse((await sb.tsbuild(['inspect', 'cmd:v1'])).stdout)[0].Descriptor.digest).toBe(info.Descriptor.digest);
    // the loaded image builds on
    writeFileSync(join(sb.dir, 'Dockerfile.on'), 'FROM cmd:v1\nRUN cat /hello.txt /built.txt > /both.txt\n');
    await sb.build(['-f', join(sb.dir, 'Dockerfile.on'), '-o', join(sb.dir, 'on-out'), ctx]);
    expect(readFileSync(join(sb.dir, 'on-out/both.txt'), 'utf8')).toBe('hello\nbuilt\n');
    expect((await sb.tsbuild(['rmi', 'nothing:here'])).code).toBe(1);
    // save to stdout, load from stdin
    const env = { ...process.env, TSBUILD_ROOT: sb.root, NO_COLOR: '1' };
    const bin = `'${process.execPath}' '${join(repo, 'bin/tsbuild')}'`;
    const piped = execFileSync('sh', ['-c', `${bin} save cmd:v1 | ${bin} load -t piped:1`], { env }).toString();
    expect(piped).toBe('Loaded image: piped:1\n');
    expect(JSON.parse((await sb.tsbuild(['inspect', 'piped:1'])).stdout)[0].Descriptor.digest).toBe(info.Descriptor.digest);
  });
});
