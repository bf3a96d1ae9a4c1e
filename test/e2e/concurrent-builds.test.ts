/**
 * Eight cold builds of one Dockerfile started at once on one store: each missed step runs once (the
 * others wait for its cache record: solver/step-lock.ts), so a non-deterministic RUN gives one image.
 */
import { describe, expect, it } from 'vitest';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suiteSandbox } from './harness.js';

const sb = suiteSandbox();

describe('concurrent builds on one store', () => {
  it('8 cold builds of a non-deterministic RUN run it once and give one image', async () => {
    const ctx = join(sb.dir, 'ctx-urandom');
    mkdirSync(ctx, { recursive: true });
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM busybox\nCOPY a.txt /a.txt\nRUN head -c 16 /dev/urandom > /r\nRUN cat /a.txt /r > /both\n');
    writeFileSync(join(ctx, 'a.txt'), 'a\n');
    const before = sb.runcRuns();
    const builds = await Promise.all(Array.from({ length: 8 }, () => sb.build([ctx])));
    const digests = builds.map((b) => /writing image (sha256:[0-9a-f]{64})/.exec(b.stderr)?.[1]);
    expect(digests.every((d) => d !== undefined)).toBe(true);
    expect(new Set(digests).size, builds.map((b) => b.stderr).join('\n----\n')).toBe(1);
    expect(sb.runcRuns() - before).toBe(2); // each RUN once, by one of the eight builds
    // Locks are removed by their holders; nothing is left behind.
    expect(readdirSync(join(sb.root, 'state', 'locks'))).toEqual([]);
    expect(sb.storeLeftovers()).toEqual([]);
  }, 180_000);
});
