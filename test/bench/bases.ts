/**
 * What the benches share (test/bench/run.ts, test/bench/ci-runner.ts): the base images they build FROM and
 * buildah's set-up. Bases: busybox (scripts/make-base-image.sh) and a Debian minbase made once with
 * debootstrap from the host's mirror and suite (cached under /var/cache/tsbuild-bench), pushed to the
 * bench's local registry by tsbuild from a scratch store. Buildah (Debian package): its own storage under
 * the bench's work dir (overlay), emptied by `fresh()`.
 * Commands run asynchronously: the test registry's logs are read by the bench process, so a blocked event
 * loop (spawnSync) would stall the registry once its pipe fills.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const bin = join(repo, 'bin/tsbuild');
export const DEBIAN_CACHE = '/var/cache/tsbuild-bench';

/** Run a command to completion (async); rejects with its output's tail when it fails. */
export function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const keep = (d: Buffer) => (out = (out + d.toString()).slice(-5000));
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolvePromise() : reject(new Error(`${cmd} ${args.join(' ')} failed (${code}):\n${out}`))));
  });
}

export function write(path: string, text: string | Buffer): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}

/** A Debian minbase rootfs tar, made once with debootstrap from the host's mirror and suite. */
export function debianRootfs(): string | undefined {
  const tar = join(DEBIAN_CACHE, 'debian-minbase.tar');
  if (existsSync(tar)) return tar;
  if (spawnSync('bash', [join(repo, 'scripts/ensure-packages.sh'), 'debootstrap'], { stdio: 'inherit' }).status !== 0) return undefined;
  const suite = execFileSync('sh', ['-c', '. /etc/os-release && echo $VERSION_CODENAME']).toString().trim();
  const sources = execFileSync('sh', ['-c', "grep -hoE '^(URIs:|deb) *https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1 | awk '{print $2}'"]).toString().trim() || 'http://deb.debian.org/debian';
  const dir = join(DEBIAN_CACHE, 'rootfs.tmp');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  console.error(`bench: making a Debian ${suite} base with debootstrap (once; cached in ${DEBIAN_CACHE})…`);
  const r = spawnSync('debootstrap', ['--variant=minbase', suite, dir, sources], { stdio: 'ignore' });
  if (r.status !== 0) {
    console.error('bench: debootstrap failed; the Debian workload is skipped');
    return undefined;
  }
  execFileSync('tar', ['-C', dir, '--numeric-owner', '-cf', tar + '.tmp', '.']);
  renameSync(tar + '.tmp', tar);
  rmSync(dir, { recursive: true, force: true });
  return tar;
}

export interface Bases {
  /** `REGISTRY/bench/busybox:latest` */
  busybox: string;
  /** `REGISTRY/bench/debian:latest`, when debootstrap could make it. */
  debian?: string;
}

/** Put the base images into `registry` (made with tsbuild in a scratch store under `work`). */
export async function publishBases(registry: string, work: string, opts: { debian: boolean }): Promise<Bases> {
  const store = join(work, 'bases-root');
  execFileSync('bash', [join(repo, 'scripts/make-base-image.sh'), '--root', store], { stdio: 'pipe' });
  const busybox = `${registry}/bench/busybox:latest`;
  execFileSync(process.execPath, [bin, 'tag', '--root', store, 'busybox:latest', busybox], { stdio: 'pipe' });
  await run(process.execPath, [bin, 'push', '--root', store, '--insecure-registry', registry, '--progress', 'quiet', busybox]);
  const bases: Bases = { busybox };
  const rootfs = opts.debian ? debianRootfs() : undefined;
  if (rootfs) {
    const ctx = join(work, 'debian-ctx');
    mkdirSync(ctx, { recursive: true });
    execFileSync('ln', ['-f', rootfs, join(ctx, 'rootfs.tar')]);
    write(join(ctx, 'Dockerfile'), 'FROM scratch\nADD rootfs.tar /\nCMD ["bash"]\n');
    bases.debian = `${registry}/bench/debian:latest`;
    await run(process.execPath, [bin, 'build', '--root', store, '--progress', 'quiet', '--insecure-registry', registry, '-o', `type=registry,name=${bases.debian}`, ctx]);
  }
  return bases;
}

/** Debian's buildah, installed when missing (scripts/ensure-packages.sh); false when it cannot be. */
export function ensureBuildah(): boolean {
  return spawnSync('bash', [join(repo, 'scripts/ensure-packages.sh'), 'buildah'], { stdio: 'ignore' }).status === 0;
}

/** Buildah with its own storage under `work`: the global flags every command takes, and emptying it. */
export interface BuildahStorage {
  root: string;
  /** `--root … --runroot … --storage-driver overlay` */
  common: string[];
  /** Remove every container and image (a cold machine); also at the end of the bench. */
  fresh(): void;
}

export function buildahStorage(work: string): BuildahStorage {
  const root = join(work, 'buildah-root');
  const runroot = join(work, 'buildah-runroot');
  const common = ['--root', root, '--runroot', runroot, '--storage-driver', 'overlay'];
  return {
    root,
    common,
    fresh() {
      spawnSync('buildah', [...common, 'rm', '--all'], { stdio: 'ignore' });
      spawnSync('umount', ['-R', join(root, 'overlay')], { stdio: 'ignore' });
      rmSync(root, { recursive: true, force: true });
      rmSync(runroot, { recursive: true, force: true });
    },
  };
}
