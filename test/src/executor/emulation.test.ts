/**
 * src/executor/emulation.ts: the real kernel (binfmt_misc with Debian's qemu-user-static, registered with the F
 * flag), and the decisions that must never touch a machine's registrations, on a directory laid out as
 * binfmt_misc lays its files out (entries `enabled / interpreter / flags: / offset / magic / mask`).
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureEmulation, runsNatively } from '../../../src/executor/emulation.js';

const AARCH64_MAGIC = '7f454c460201010000000000000000000200b700';
const CONF = ':qemu-aarch64:M::\\x7f\\x45\\x4c\\x46\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00:\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff:/usr/libexec/qemu-binfmt/aarch64-binfmt-P:OPF\n';
const host = { os: 'linux', architecture: 'amd64' };
const arm64 = { os: 'linux', architecture: 'arm64' };

function dirs(entries: Record<string, string>, opts: { mounted?: boolean; conf?: boolean } = {}) {
  const binfmt = mkdtempSync(join(tmpdir(), 'tsbuild-binfmt-'));
  const confDir = mkdtempSync(join(tmpdir(), 'tsbuild-binfmt-conf-'));
  if (opts.mounted !== false) writeFileSync(join(binfmt, 'status'), 'enabled\n');
  for (const [name, text] of Object.entries(entries)) writeFileSync(join(binfmt, name), text);
  if (opts.conf !== false) writeFileSync(join(confDir, 'qemu-aarch64.conf'), CONF);
  return { binfmtDir: binfmt, confDir };
}

const entry = (flags: string, magic = AARCH64_MAGIC) => `enabled\ninterpreter /usr/bin/qemu-aarch64-static\nflags: ${flags}\noffset 0\nmagic ${magic}\nmask ffffffffffffff00fffffffffffffffffeffffff\n`;

describe('emulation', () => {
  it('runs 386 natively on amd64, never arm64 or another os', () => {
    expect(runsNatively({ os: 'linux', architecture: '386' }, host)).toBe(true);
    expect(runsNatively({ os: 'linux', architecture: 'x86_64' }, host)).toBe(true);
    expect(runsNatively(arm64, host)).toBe(false);
    expect(runsNatively({ os: 'windows', architecture: 'amd64' }, host)).toBe(false);
  });

  it('on this machine (root): an arm64 step can run: qemu-aarch64 is registered with the F flag; an aarch64 binary runs', async () => {
    execFileSync('bash', ['scripts/ensure-packages.sh', 'qemu-user-static'], { stdio: 'pipe' });
    await ensureEmulation(arm64);
    const text = readFileSync('/proc/sys/fs/binfmt_misc/qemu-aarch64', 'utf8');
    expect(text).toMatch(/^enabled$/m);
    expect(text).toMatch(/^flags: \S*F/m);
    const bb = execFileSync('bash', ['scripts/ensure-foreign-busybox.sh', 'arm64'], { encoding: 'utf8' }).trim();
    expect(execFileSync(bb, ['uname', '-m'], { encoding: 'utf8' })).toBe('aarch64\n');
  }, 300_000);

  it('an existing registration for the same ELF magic (another name) is used and left alone', async () => {
    const d = dirs({ 'my-arm64': entry('F') });
    await ensureEmulation(arm64, { ...d, host, privileged: true });
    expect(existsSync(join(d.binfmtDir, 'register'))).toBe(false);
    expect(readFileSync(join(d.binfmtDir, 'my-arm64'), 'utf8')).toBe(entry('F'));
  });

  it('an existing registration without the F flag is reported, never changed', async () => {
    const d = dirs({ 'qemu-aarch64': entry('P') });
    await expect(ensureEmulation(arm64, { ...d, host, privileged: true })).rejects.toThrow(
      /cannot run linux\/arm64 binaries on this linux\/amd64 host: the binfmt_misc entry qemu-aarch64 has no F \(fix-binary\) flag/,
    );
    expect(existsSync(join(d.binfmtDir, 'register'))).toBe(false);
    expect(readFileSync(join(d.binfmtDir, 'qemu-aarch64'), 'utf8')).toBe(entry('P'));
  });

  it('a disabled entry does not count; rootless (unprivileged) cannot register and says how to fix it', async () => {
    const d = dirs({ 'qemu-aarch64': entry('F').replace('enabled', 'disabled') });
    const err = await ensureEmulation(arm64, { ...d, host, privileged: false }).catch((e: unknown) => e as Error & { code: string; hint: string });
    expect(err.code).toBe('EMULATION_UNAVAILABLE');
    expect(err.message).toMatch(/no emulator for aarch64 is registered with binfmt_misc \(a rootless build cannot register one\)/);
    expect(err.hint).toMatch(/as root/);
    expect(existsSync(join(d.binfmtDir, 'register'))).toBe(false);
  });

  it('binfmt_misc not mounted, unprivileged: the error names the mount; no qemu-user-static: the error names the package', async () => {
    const unmounted = dirs({}, { mounted: false });
    await expect(ensureEmulation(arm64, { ...unmounted, host, privileged: false })).rejects.toThrow(/binfmt_misc is not mounted at/);
    const noPackage = dirs({}, { conf: false });
    const err = await ensureEmulation(arm64, { ...noPackage, host, privileged: true }).catch((e: unknown) => e as Error & { hint: string });
    expect(err.message).toMatch(/no emulator for aarch64 is registered with binfmt_misc, and .*qemu-aarch64\.conf does not exist/);
    expect(err.hint).toMatch(/qemu-user-static/);
  });

  it('a platform no emulator exists for is refused with its name', async () => {
    await expect(ensureEmulation({ os: 'windows', architecture: 'amd64' }, { host })).rejects.toThrow(/cannot run windows\/amd64 binaries on this linux\/amd64 host: no emulator is known/);
  });
});
