/**
 * Entitlements through the CLI: RUN --network=host and RUN --security=insecure are refused without the
 * runner's consent (--allow), naming the Dockerfile line and the flag; with it they run as BuildKit does.
 */
import { describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suiteSandbox } from './harness.js';

const sb = suiteSandbox();

function project(name: string, dockerfile: string): string {
  const dir = join(sb.dir, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'Dockerfile'), dockerfile);
  return dir;
}

/** Interface names a step sees (host: the host's, sandbox/none: lo [+ tap0]). */
const IFACES = 'cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d " " | sort | tr "\\n" ,';

describe('network.host', () => {
  it('RUN --network=host without --allow stops before any step runs, naming the line and the flag', async () => {
    const ctx = project('host-denied', `FROM busybox\nRUN echo first\nRUN --network=host ${IFACES}\n`);
    const runs = sb.runcRuns();
    const r = await sb.tsbuild(['build', '--progress', 'plain', ctx]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Dockerfile:3');
    expect(r.stderr).toContain('network.host is not allowed');
    expect(r.stderr).toContain('--allow network.host');
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(sb.runcRuns()).toBe(runs); // not even the first RUN ran
  });

  it('--allow network.host (or --network host for the build) grants it: the step sees the host interfaces', async () => {
    const ctx = project('host-allowed', `FROM busybox\nRUN --network=host ${IFACES}\n`);
    const hostIfaces = (await import('node:os')).networkInterfaces();
    const nonLo = Object.keys(hostIfaces).find((n) => n !== 'lo');
    const out = await sb.build(['--allow', 'network.host', ctx]);
    if (nonLo) expect(out.stderr).toContain(`${nonLo},`);
    await sb.build(['--no-cache', '--network', 'host', ctx]);
    // comma-separated, as buildx
    await sb.build(['--no-cache', '--allow', 'security.insecure,network.host', ctx]);
  });

  it('rejects an unknown entitlement', async () => {
    const r = await sb.tsbuild(['build', '--allow', 'network.hots', sb.dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('invalid --allow "network.hots": unknown entitlement');
  });
});

describe('security.insecure', () => {
  const status = 'grep -E "^(CapEff|Seccomp):" /proc/self/status | tr -s "\\t " " " | tr "\\n" ";"';

  it('RUN --security=insecure without --allow is refused, naming the line and the flag', async () => {
    const ctx = project('insecure-denied', `FROM busybox\nRUN --security=insecure true\n`);
    const r = await sb.tsbuild(['build', '--progress', 'plain', '--allow', 'network.host', ctx]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Dockerfile:2');
    expect(r.stderr).toContain('security.insecure is not allowed');
    expect(r.stderr).toContain('--allow security.insecure');
  });

  it('with --allow security.insecure the step has every capability and no seccomp filter; a sandboxed step does not', async () => {
    const ctx = project('insecure-allowed', `FROM busybox\nRUN --security=insecure ${status}\nRUN ${status}\n`);
    const out = await sb.build(['--allow', 'security.insecure', ctx]);
    const lines = [...out.stderr.matchAll(/CapEff: ([0-9a-f]+);Seccomp: (\d);/g)].map((m) => [m[1]!, m[2]!]);
    expect(lines).toHaveLength(2);
    const [insecure, sandboxed] = lines;
    expect(BigInt('0x' + insecure![0]) & (1n << 21n)).toBe(1n << 21n); // CAP_SYS_ADMIN
    expect(insecure![1]).toBe('0');
    expect(BigInt('0x' + sandboxed![0]) & (1n << 21n)).toBe(0n);
    expect(sandboxed![1]).toBe('2');
  });
});
