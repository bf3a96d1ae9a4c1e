/**
 * Multi-platform builds (issue 17) through the real CLI, a real registry (Debian docker-registry), skopeo and umoci,
 * and real emulation (Debian's qemu-user-static, registered with binfmt_misc by tsbuild itself):
 * - a two-platform (amd64 + arm64) base made here from the host's busybox-static and Debian's busybox-static:arm64
 *   (apt-get download + dpkg -x, scripts/ensure-foreign-busybox.sh), built FROM scratch by tsbuild and pushed;
 * - `RUN uname -m` built for both and pushed: `skopeo inspect --raw` shows an index with both, `skopeo copy
 *   --override-arch arm64` gives a rootfs whose /arch says aarch64 (it ran under qemu), amd64's says x86_64;
 *   the amd64 image is byte-identical to a one-platform build's; steps are named `[linux/arm64 2/2] …`;
 * - cross-compilation with `FROM --platform=$BUILDPLATFORM`: the shared RUN runs once (runc runs counted), natively;
 *   `-o type=local` writes linux_amd64/ and linux_arm64/ as buildx;
 * - type=oci holds the index, type=tar one dir per platform; `-t` names the index in the store and a later build FROM it picks its platform;
 *   type=docker / --load refuse several platforms as buildx's docker exporter;
 * - --cache-to/--cache-from carry every platform's records (a fresh store runs no container);
 * - base manifest lists with arm variants (v6, v7: linux/arm means v7) and a platform missing from one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { cpSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync, copyFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { Sandbox, fixtures, repo, suiteSandbox } from '../e2e/harness.js';
import { TestRegistry } from './harness.js';

const run = promisify(execFile);
const sb = suiteSandbox();
let reg: TestRegistry;
let base = '';
let armBase = '';

/** A rootfs dir for the base: busybox (the given binary), a few applet links, /etc/passwd and /etc/group. */
function rootfs(dir: string, busybox: string, extra: Record<string, string> = {}): void {
  mkdirSync(join(dir, 'bin'), { recursive: true });
  mkdirSync(join(dir, 'etc'), { recursive: true });
  copyFileSync(busybox, join(dir, 'bin/busybox'));
  for (const a of ['sh', 'uname', 'echo', 'cat', 'true']) symlinkSync('busybox', join(dir, 'bin', a));
  writeFileSync(join(dir, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  writeFileSync(join(dir, 'etc/group'), 'root:x:0:\n');
  for (const [name, text] of Object.entries(extra)) writeFileSync(join(dir, name), text);
}

async function build(args: string[], env: Record<string, string> = {}) {
  const out = await sb.tsbuild(['build', '--progress', 'plain', ...args], { env });
  return { ...out, text: out.stderr + out.stdout };
}

async function skopeoRaw(ref: string): Promise<Record<string, any>> {
  return JSON.parse((await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`])).stdout);
}

/** `skopeo copy --override-arch ARCH` of a pushed image into an OCI dir, unpacked by umoci: the rootfs dir. */
async function pullRootfs(ref: string, arch: string): Promise<string> {
  const layout = join(sb.dir, `pulled-${arch}-${Math.random().toString(36).slice(2)}`);
  await run('skopeo', ['copy', '-q', '--override-arch', arch, '--src-tls-verify=false', `docker://${ref}`, `oci:${layout}:img`]);
  const dest = `${layout}-rootfs`; // umoci raw unpack: the rootfs itself
  await run('umoci', ['raw', 'unpack', '--rootless', '--image', `${layout}:img`, dest]);
  return dest;
}

beforeAll(async () => {
  await run('bash', [join(repo, 'scripts/ensure-packages.sh'), 'qemu-user-static', 'skopeo', 'umoci', 'docker-registry']);
  const arm64 = (await run('bash', [join(repo, 'scripts/ensure-foreign-busybox.sh'), 'arm64'])).stdout.trim();
  reg = await TestRegistry.start('open');
  const ctx = join(sb.dir, 'base-ctx');
  cpSync(join(fixtures, 'multiplatform/base'), ctx, { recursive: true });
  const host = realpathSync('/bin/busybox');
  rootfs(join(ctx, 'rootfs-amd64'), host, { variant: 'amd64' });
  rootfs(join(ctx, 'rootfs-arm64'), arm64, { variant: 'arm64' });
  // arm bases only for choosing a manifest by variant (no RUN on them): the host's busybox stands in.
  rootfs(join(ctx, 'rootfs-armv6'), host, { variant: 'v6' });
  rootfs(join(ctx, 'rootfs-armv7'), host, { variant: 'v7' });
  base = `${reg.domain}/busybox-multi:1`;
  armBase = `${reg.domain}/busybox-arm:1`;
  const b = await build(['--platform', 'linux/amd64,linux/arm64', '--push', '-t', base, ctx]);
  expect(b.code, b.text).toBe(0);
  const v = await build(['--platform', 'linux/amd64,linux/arm/v6,linux/arm/v7', '--push', '-t', armBase, ctx]);
  expect(v.code, v.text).toBe(0);
}, 300_000);

afterAll(async () => {
  await reg?.stop();
});

describe('multi-platform builds', () => {
  it('amd64 + arm64: one index pushed; the arm64 RUN ran under emulation (aarch64); amd64 equals a one-platform build', async () => {
    const ref = `${reg.domain}/uname:1`;
    const out = await build(['--platform', 'linux/amd64,linux/arm64', '--build-arg', `BASE=${base}`, '--push', '-t', ref, join(fixtures, 'multiplatform/uname')]);
    expect(out.code, out.text).toBe(0);
    expect(out.text).toMatch(/#\d+ \[linux\/arm64 2\/2\] RUN uname -m > \/arch/);
    expect(out.text).toMatch(/#\d+ \[linux\/amd64 2\/2\] RUN uname -m > \/arch/);
    expect(out.text).toMatch(/writing image index sha256:[0-9a-f]{64}/);
    const index = await skopeoRaw(ref);
    expect(index.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    expect(index.manifests.map((m: any) => m.platform)).toEqual([
      { architecture: 'amd64', os: 'linux' },
      { architecture: 'arm64', os: 'linux' },
    ]);
    expect(readFileSync(join(await pullRootfs(ref, 'arm64'), 'arch'), 'utf8')).toBe('aarch64\n');
    expect(readFileSync(join(await pullRootfs(ref, 'amd64'), 'arch'), 'utf8')).toBe('x86_64\n');
    // The arm64 config says arm64 (from its base); the host's platform shares its cache with a one-platform build.
    const one = await build(['--platform', 'linux/amd64', '--build-arg', `BASE=${base}`, '--push', '-t', `${reg.domain}/uname:amd64`, join(fixtures, 'multiplatform/uname')]);
    expect(one.code, one.text).toBe(0);
    expect(one.text).toMatch(/#\d+ \[2\/2\] RUN uname -m > \/arch\n#\d+ CACHED/);
    const single = (await run('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${reg.domain}/uname:amd64`])).stdout;
    const amd = index.manifests[0];
    expect(JSON.parse(single).config).toBeDefined();
    expect(`sha256:${(await import('node:crypto')).createHash('sha256').update(single).digest('hex')}`).toBe(amd.digest);
  }, 300_000);

  it('FROM --platform=$BUILDPLATFORM: the shared RUN runs once, natively; type=local writes linux_amd64/ and linux_arm64/', async () => {
    const dest = join(sb.dir, 'cross-out');
    const before = sb.runcRuns();
    const out = await build(['--platform', 'linux/amd64,linux/arm64', '--build-arg', `BASE=${base}`, '-o', `type=local,dest=${dest}`, join(fixtures, 'multiplatform/cross')]);
    expect(out.code, out.text).toBe(0);
    // uname once (shared by both targets) + the TARGETPLATFORM step once per target = 3 containers, none for the final stage.
    expect(sb.runcRuns() - before).toBe(3);
    expect(out.text.match(/#\d+ \[linux\/amd64 build 2\/3\] RUN uname -m > \/host-arch\n/g)).toHaveLength(1);
    expect(readdirSync(dest).sort()).toEqual(['linux_amd64', 'linux_arm64']);
    expect(readFileSync(join(dest, 'linux_arm64/host-arch'), 'utf8')).toBe('x86_64\n');
    expect(readFileSync(join(dest, 'linux_amd64/host-arch'), 'utf8')).toBe('x86_64\n');
    expect(readFileSync(join(dest, 'linux_arm64/target'), 'utf8')).toBe('linux/arm64 arm64\n');
    expect(readFileSync(join(dest, 'linux_amd64/target'), 'utf8')).toBe('linux/amd64 amd64\n');
    // The final stage is each target's own base.
    expect(readFileSync(join(dest, 'linux_arm64/variant'), 'utf8')).toBe('arm64');
  }, 300_000);

  it('type=oci holds the index, type=tar a dir per platform; type=image names it in the store and a later build FROM it picks its platform; type=docker/--load refuse', async () => {
    const ctx = join(fixtures, 'multiplatform/uname');
    const oci = join(sb.dir, 'multi-oci.tar');
    const tarOut = join(sb.dir, 'multi-rootfs.tar');
    const out = await build(['--platform', 'linux/amd64,linux/arm64', '--build-arg', `BASE=${base}`, '-o', `type=oci,dest=${oci}`, '-o', 'type=image,name=multi-local:1', '-o', `type=tar,dest=${tarOut}`, ctx]);
    expect(out.code, out.text).toBe(0);
    // type=tar: one tar, a top-level dir per platform (as buildx).
    expect((await run('tar', ['-xOf', tarOut, 'linux_arm64/arch'])).stdout).toBe('aarch64\n');
    expect((await run('tar', ['-xOf', tarOut, 'linux_amd64/arch'])).stdout).toBe('x86_64\n');
    const layout = join(sb.dir, 'multi-oci');
    mkdirSync(layout);
    await run('tar', ['-xf', oci, '-C', layout]);
    const top = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8'));
    expect(top.manifests).toHaveLength(1);
    expect(top.manifests[0].mediaType).toBe('application/vnd.oci.image.index.v1+json');
    const index = JSON.parse(readFileSync(join(layout, 'blobs/sha256', top.manifests[0].digest.slice(7)), 'utf8'));
    expect(index.manifests.map((m: any) => `${m.platform.os}/${m.platform.architecture}`)).toEqual(['linux/amd64', 'linux/arm64']);
    // skopeo reads the layout (an independent reader): the arm64 image's config says arm64.
    const cfg = JSON.parse((await run('skopeo', ['inspect', '--config', '--override-arch', 'arm64', `oci-archive:${oci}`])).stdout);
    expect(cfg.architecture).toBe('arm64');

    const derived = join(sb.dir, 'derived');
    mkdirSync(derived);
    writeFileSync(join(derived, 'Dockerfile'), 'FROM multi-local:1\nRUN cat /arch > /from-base\n');
    const dest = join(sb.dir, 'derived-out');
    const d = await build(['--platform', 'linux/arm64', '-o', `type=local,dest=${dest}`, derived]);
    expect(d.code, d.text).toBe(0);
    expect(readFileSync(join(dest, 'from-base'), 'utf8')).toBe('aarch64\n');

    const load = await sb.tsbuild(['build', '--platform', 'linux/amd64,linux/arm64', '--build-arg', `BASE=${base}`, '--load', ctx]);
    expect(load.code).toBe(2);
    expect(load.stderr).toMatch(/docker exporter does not currently support exporting manifest lists/);
    const docker = await sb.tsbuild(['build', '--platform', 'linux/amd64,linux/arm64', '--build-arg', `BASE=${base}`, '-o', `type=docker,dest=${join(sb.dir, 'd.tar')}`, ctx]);
    expect(docker.code).toBe(2);
    expect(docker.stderr).toMatch(/docker exporter does not support exporting manifest lists, use the oci exporter instead/);
  }, 300_000);

  it('base manifest lists with variants: linux/arm is v7, linux/arm/v6 is v6; a platform the list lacks is a clear error', async () => {
    const ctx = join(fixtures, 'multiplatform/variants');
    for (const [platform, want] of [['linux/arm', 'v7'], ['linux/arm/v7', 'v7'], ['linux/arm/v6', 'v6'], ['linux/amd64', 'amd64']] as const) {
      const dest = join(sb.dir, `variant-${platform.replace(/\//g, '_')}`);
      const out = await build(['--platform', platform, '--build-arg', `BASE=${armBase}`, '-o', `type=local,dest=${dest}`, ctx]);
      expect(out.code, out.text).toBe(0);
      expect(readFileSync(join(dest, 'variant'), 'utf8'), platform).toBe(want);
    }
    const index = await skopeoRaw(armBase);
    expect(index.manifests.map((m: any) => m.platform)).toEqual([
      { architecture: 'amd64', os: 'linux' },
      { architecture: 'arm', os: 'linux', variant: 'v6' },
      { architecture: 'arm', os: 'linux', variant: 'v7' },
    ]);
    const missing = await sb.tsbuild(['build', '--platform', 'linux/amd64,linux/arm64', '--build-arg', `BASE=${armBase}`, ctx]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/busybox-arm:1 has no manifest for linux\/arm64/);
    expect(missing.stderr).toMatch(/Dockerfile:2/);
  }, 300_000);

  it("--cache-to/--cache-from carry every platform's records: a fresh store builds both platforms without running a container", async () => {
    const cacheDir = join(sb.dir, 'multi-cache');
    const ctx = join(fixtures, 'multiplatform/uname');
    const a = await build(['--platform', 'linux/amd64,linux/arm64', '--build-arg', `BASE=${base}`, '--cache-to', `type=local,dest=${cacheDir}`, ctx]);
    expect(a.code, a.text).toBe(0);
    expect(a.text).toMatch(/exported 2 cache records to/); // mode=min: each platform's chain (one RUN each; keys differ by platform)
    const fresh = new Sandbox();
    try {
      const dest = join(fresh.dir, 'out');
      const b = await fresh.tsbuild(['build', '--progress', 'plain', '--platform', 'linux/amd64,linux/arm64', '--build-arg', `BASE=${base}`, '--cache-from', `type=local,src=${cacheDir}`, '-o', `type=local,dest=${dest}`, ctx]);
      expect(b.code, b.stderr).toBe(0);
      expect(b.stderr).toMatch(/#\d+ \[linux\/arm64 2\/2\] RUN uname -m > \/arch\n#\d+ CACHED/);
      expect(fresh.runcRuns()).toBe(0);
      expect(readFileSync(join(dest, 'linux_arm64/arch'), 'utf8')).toBe('aarch64\n');
      expect(readFileSync(join(dest, 'linux_amd64/arch'), 'utf8')).toBe('x86_64\n');
    } finally {
      fresh.cleanup();
    }
  }, 300_000);
});
