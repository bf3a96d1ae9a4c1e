/**
 * Build history and `--progress rawjson` through the real CLI: rawjson lines parse and account for every
 * step of the build definition; every build that runs the solver is recorded (ok or failed), listed,
 * inspected and drawn as a report page; a replayed no-op rebuild is not recorded; prune --all removes it.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { suiteSandbox } from './harness.js';

const sb = suiteSandbox();

interface Summary { id: string; ran: number; cached: number; result: string; durationMs: number }
const history = async (): Promise<Summary[]> => {
  const out = await sb.tsbuild(['history', '--json']);
  expect(out.code, out.stderr).toBe(0);
  return JSON.parse(out.stdout) as Summary[];
};

describe('--progress rawjson', () => {
  it('prints one JSON object per line that together account for every step', async () => {
    const ctx = sb.context('e2e/multistage');
    const def = JSON.parse((await sb.tsbuild(['build', '--print-definition', ctx])).stdout) as { ops: Record<string, { type: string; source?: { kind: string } }> };
    const steps = Object.entries(def.ops).filter(([, op]) => !(op.type === 'source' && (op.source!.kind === 'local' || op.source!.kind === 'scratch'))).map(([id]) => id);
    const check = async (env: Record<string, string>) => {
      const out = await sb.tsbuild(['build', '--progress', 'rawjson', ctx], { env });
      expect(out.code, out.stderr).toBe(0);
      // Every line is an event, but the memo's own debug lines (TSBUILD_MEMO_DEBUG=1).
      const lines = out.stderr.trimEnd().split('\n').filter((l) => !l.startsWith('rebuild memo: '));
      const events = lines.map((l) => JSON.parse(l) as { v: number; type: string; id?: string; at?: number; durationMs?: number });
      expect(events.every((e) => e.v === 1)).toBe(true);
      for (const id of steps) {
        const mine = events.filter((e) => e.id === id).map((e) => e.type);
        expect(mine.includes('vertex.cached') || (mine.includes('vertex.started') && mine.includes('vertex.done')), `${id}: ${mine.join(',')}`).toBe(true);
      }
      expect(events.some((e) => e.type === 'vertex.skipped')).toBe(true); // the unused stage
      return { events, stderr: out.stderr };
    };
    const { events: cold } = await check({});
    expect(cold.filter((e) => e.type === 'vertex.done' && e.id !== 'export').every((e) => typeof e.at === 'number' && typeof e.durationMs === 'number')).toBe(true);
    await sleep(1100);
    await check({ TSBUILD_NO_MEMO: '1' }); // all cached, normal path
    await check({}); // writes the memo
    const { events: replay, stderr } = await check({ TSBUILD_MEMO_DEBUG: '1' }); // replayed: still every step
    expect(stderr).toContain('rebuild memo: replayed');
    expect(replay.filter((e) => e.type === 'vertex.cached').length).toBe(steps.length);
  });
});

describe('tsbuild history', () => {
  it('records each build that runs (ok or failed, not a memo replay), lists, inspects, reports and prunes them', async () => {
    await sb.tsbuild(['prune', '--all']);
    expect(await history()).toEqual([]);
    const ctx = sb.context('e2e/cache');
    await sb.build([ctx], { env: { TSBUILD_NO_MEMO: '1' } });
    await sb.build(['--build-arg', 'UNUSED=1', ctx], { env: { TSBUILD_NO_MEMO: '1' } });
    const list = await history();
    expect(list).toHaveLength(2);
    const [second, first] = list;
    expect(first!.ran).toBeGreaterThan(0);
    expect(first!.result).toBe('ok');
    expect(second!.result).toBe('ok');

    // A memo replay is not recorded.
    await sleep(1100);
    await sb.build([ctx]);
    const before = (await history()).length;
    const replayed = await sb.tsbuild(['build', '--progress', 'plain', ctx], { env: { TSBUILD_MEMO_DEBUG: '1' } });
    expect(replayed.stderr).toContain('rebuild memo: replayed');
    expect((await history()).length).toBe(before);

    // A failed build is recorded, with its error.
    writeFileSync(join(ctx, 'Dockerfile.bad'), 'FROM busybox\nRUN echo no && exit 3\n');
    const bad = await sb.tsbuild(['build', '-f', join(ctx, 'Dockerfile.bad'), ctx]);
    expect(bad.code).not.toBe(0);
    const failed = (await history())[0]!;
    expect(failed.result).toBe('failed');
    const inspect = await sb.tsbuild(['history', 'inspect', failed.id.slice(0, 6)]);
    expect(inspect.code, inspect.stderr).toBe(0);
    expect(inspect.stdout).toContain('Result:     failed');
    expect(inspect.stdout).toMatch(/RUN echo no && exit 3\s+failed/);
    const json = JSON.parse((await sb.tsbuild(['history', 'inspect', failed.id, '--json'])).stdout) as { steps: { id: string }[]; run: { steps: { status: string }[] } };
    expect(json.run.steps.map((s) => s.status)).toContain('failed');

    // The report page of a recorded build: one bar per step.
    const page = join(sb.dir, 'build.html');
    const rep = await sb.tsbuild(['history', 'report', first!.id, '--html', page]);
    expect(rep.code, rep.stderr).toBe(0);
    const html = readFileSync(page, 'utf8');
    const rec = JSON.parse((await sb.tsbuild(['history', 'inspect', first!.id, '--json'])).stdout) as { steps: unknown[] };
    expect(html.match(/<button class="bar /g)!.length).toBe(rec.steps.length);

    const text = await sb.tsbuild(['history']);
    expect(text.stdout.split('\n')[0]).toMatch(/^ID\s+STARTED\s+TARGET\s+DURATION\s+RAN\s+CACHED\s+RESULT$/);
    const unknown = await sb.tsbuild(['history', 'inspect', 'ffffffffffff']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('no build "ffffffffffff" in the history');

    await sb.tsbuild(['prune', '--all']);
    expect(await history()).toEqual([]);
  });
});
