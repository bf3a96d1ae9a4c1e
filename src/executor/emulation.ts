/**
 * Emulation of a foreign platform's RUN steps: qemu user-mode emulators (Debian's `qemu-user-static`)
 * registered with the kernel's binfmt_misc with the fix-binary flag (F), so that the kernel opens the
 * emulator once, at registration, and runc runs a foreign binary inside any rootfs transparently (the
 * emulator need not exist in the container).
 *
 * `ensureEmulation(platform)`: nothing to do for a platform this host runs natively; else binfmt_misc is
 * mounted when it is not (root only), and an emulator for the platform's ELF machine is registered from
 * the package's own `/usr/lib/binfmt.d/qemu-<arch>.conf` when none is (root only). An existing registration
 * (any enabled entry with the same ELF magic) is never changed: one without the F flag is reported, since
 * runc could not reach its interpreter. In a user namespace (rootless) nothing is mounted or registered:
 * a registration made by root (e.g. by `scripts/install.sh` or an earlier root build) serves it.
 */
import { execFile } from 'node:child_process';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { TsbuildError } from '../errors.js';
import { formatPlatform, hostPlatform, normalizePlatform, specPlatform } from '../image/platform.js';
import type { Platform } from '../image/types.js';
import { inUserNamespace } from '../proc/userns.js';

const run = promisify(execFile);

/** OCI architecture → qemu's name for it (the `qemu-<name>-static` binary and `qemu-<name>.conf`). */
const QEMU_ARCH: Record<string, string> = {
  arm64: 'aarch64',
  arm: 'arm',
  amd64: 'x86_64',
  '386': 'i386',
  ppc64le: 'ppc64le',
  ppc64: 'ppc64',
  s390x: 's390x',
  riscv64: 'riscv64',
  mips64le: 'mips64el',
  mips64: 'mips64',
  loong64: 'loongarch64',
};

/** Platforms a host runs without an emulator (32-bit x86 on amd64, 32-bit arm on arm64 is left to binfmt). */
const NATIVE_EXTRA: Record<string, string[]> = { amd64: ['386'] };

export interface EmulationOptions {
  /** binfmt_misc's mount point; default /proc/sys/fs/binfmt_misc. */
  binfmtDir?: string;
  /** Where the qemu-<arch>.conf registrations of Debian's qemu-user-static are; default /usr/lib/binfmt.d. */
  confDir?: string;
  /** The host platform; default this machine's. */
  host?: Platform;
  /** May mount binfmt_misc and register emulators (root in the initial user namespace); default: detected. */
  privileged?: boolean;
}

/** True when `p`'s steps run on this host without an emulator. */
export function runsNatively(p: Platform, host: Platform = hostPlatform()): boolean {
  const w = normalizePlatform(p);
  const h = normalizePlatform(host);
  if (w.os !== h.os) return false;
  return w.architecture === h.architecture || (NATIVE_EXTRA[h.architecture] ?? []).includes(w.architecture);
}

const done = new Map<string, Promise<void>>();

/** Make sure `platform`'s binaries can run here (see the module doc); throws EMULATION_UNAVAILABLE saying how to fix it. */
export function ensureEmulation(platform: Platform, opts: EmulationOptions = {}): Promise<void> {
  const host = opts.host ?? hostPlatform();
  if (runsNatively(platform, host)) return Promise.resolve();
  const id = `${formatPlatform(normalizePlatform(platform))}\0${opts.binfmtDir ?? ''}\0${opts.confDir ?? ''}`;
  let p = done.get(id);
  if (!p) {
    p = check(platform, host, opts);
    // A failure is not remembered: the next step tries again (someone may have fixed it meanwhile).
    p.catch(() => done.delete(id));
    done.set(id, p);
  }
  return p;
}

async function check(platform: Platform, host: Platform, opts: EmulationOptions): Promise<void> {
  const dir = opts.binfmtDir ?? '/proc/sys/fs/binfmt_misc';
  const confDir = opts.confDir ?? '/usr/lib/binfmt.d';
  const privileged = opts.privileged ?? (process.getuid?.() === 0 && !inUserNamespace());
  const shown = formatPlatform(specPlatform(platform));
  const hostShown = formatPlatform(specPlatform(host));
  const qemu = QEMU_ARCH[normalizePlatform(platform).architecture];
  const unavailable = (why: string, hint: string) =>
    new TsbuildError('EMULATION_UNAVAILABLE', `cannot run ${shown} binaries on this ${hostShown} host: ${why}`, { hint });
  if (platform.os !== 'linux' || qemu === undefined) throw unavailable('no emulator is known for this platform', `build for ${hostShown}, or on a ${shown} machine`);
  const fix = `install Debian's qemu-user-static (scripts/install.sh does) and run one tsbuild build as root: it registers the emulator with binfmt_misc (F flag)`;
  const conf = await readConf(join(confDir, `qemu-${qemu}.conf`));

  if (!(await exists(join(dir, 'status')))) {
    if (!privileged) throw unavailable(`binfmt_misc is not mounted at ${dir}`, `as root: mount -t binfmt_misc binfmt_misc ${dir}; then ${fix}`);
    await run('mount', ['-t', 'binfmt_misc', 'binfmt_misc', dir]).catch((err: Error & { stderr?: string }) => {
      throw unavailable(`binfmt_misc is not mounted at ${dir} and mounting it failed (${(err.stderr || err.message).trim()})`, fix);
    });
  }
  const found = await findRegistration(dir, qemu, conf?.magic);
  if (found) {
    if (!found.fixBinary) {
      throw unavailable(
        `the binfmt_misc entry ${found.name} has no F (fix-binary) flag, so the emulator cannot be reached from inside a build container`,
        `re-register it with the F flag (tsbuild never changes an existing registration), e.g. remove it (echo -1 > ${join(dir, found.name)}) and let tsbuild register Debian's qemu-user-static`,
      );
    }
    return;
  }
  if (!conf) throw unavailable(`no emulator for ${qemu} is registered with binfmt_misc, and ${join(confDir, `qemu-${qemu}.conf`)} does not exist`, fix);
  if (!privileged) throw unavailable(`no emulator for ${qemu} is registered with binfmt_misc (a rootless build cannot register one)`, `run one tsbuild build for ${shown} as root (or: as root, echo the line of ${join(confDir, `qemu-${qemu}.conf`)} into ${join(dir, 'register')})`);
  try {
    await writeFile(join(dir, 'register'), conf.line);
  } catch (err) {
    // Another build registered it at the same moment: fine when it is there now.
    if (await findRegistration(dir, qemu, conf.magic)) return;
    throw unavailable(`registering ${conf.line.split(':')[1]} with binfmt_misc failed (${(err as Error).message})`, fix);
  }
  if (!(await findRegistration(dir, qemu, conf.magic))) throw unavailable(`the emulator registered for ${qemu} is not enabled`, fix);
}

interface Conf {
  line: string;
  /** The ELF magic as lower-case hex (binfmt_misc's `magic` line writes it so). */
  magic: string;
}

/** systemd's binfmt.d line `:name:M::magic:mask:interpreter:flags`, with the magic decoded from its \x escapes. */
async function readConf(path: string): Promise<Conf | undefined> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  const line = text?.split('\n').find((l) => l.startsWith(':'));
  if (!line) return undefined;
  const fields = line.split(':');
  const magic = (fields[4] ?? '').replace(/\\x([0-9a-fA-F]{2})/g, '$1').toLowerCase();
  return /^[0-9a-f]+$/.test(magic) ? { line: line.trim(), magic } : undefined;
}

/** An enabled registration for this machine: named qemu-<arch>, or with the same magic. */
async function findRegistration(dir: string, qemu: string, magic: string | undefined): Promise<{ name: string; fixBinary: boolean } | undefined> {
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    if (name === 'register' || name === 'status') continue;
    const text = await readFile(join(dir, name), 'utf8').catch(() => '');
    if (!/^enabled$/m.test(text)) continue;
    const m = /^magic ([0-9a-f]+)$/m.exec(text)?.[1];
    if (name !== `qemu-${qemu}` && !(magic !== undefined && m === magic)) continue;
    const flags = /^flags: ?(\S*)$/m.exec(text)?.[1] ?? '';
    return { name, fixBinary: flags.includes('F') };
  }
  return undefined;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
