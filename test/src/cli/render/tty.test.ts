/**
 * The tty view in a real terminal: the real CLI runs a 24-step build inside a detached tmux pane of
 * 100×20, and tmux (capture-pane, history_size) tells what a person would see: no live frame enters the
 * scrollback (it grows by at most the final summary, and the header is there once), no line wraps even
 * with CJK and emoji step names, the clock of a silent step ticks, and a failed build says FAILED.
 * Unit cases (clipping to rows, widths) run on the renderer directly.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Sandbox, repo } from '../../../e2e/harness.js';
import { TtyRenderer } from '../../../../src/cli/render/tty.js';
import { clipToWidth, displayWidth } from '../../../../src/cli/render/width.js';

describe('tty view (unit)', () => {
  it('counts terminal columns: CJK and emoji are two, combining marks none', () => {
    expect(displayWidth('abc')).toBe(3);
    expect(displayWidth('漢字')).toBe(4);
    expect(displayWidth('🐳x')).toBe(3);
    expect(displayWidth('e\u0301')).toBe(1);
    expect(clipToWidth('漢字漢字', 5)).toBe('漢字');
    expect(clipToWidth('漢字漢字', 6, true)).toBe('漢字…');
  });

  it('shows a step\'s status (its layer being made) under it, ticking, then with its duration', () => {
    const r = new TtyRenderer(() => {}, () => 80, 100000, { run: '', error: '', cancel: '', warning: '' }, () => 20);
    const now = Date.now();
    r.emit({ type: 'vertex.started', id: 'a', name: '[1/1] RUN big', at: now - 3000 });
    r.emit({ type: 'vertex.done', id: 'a', name: '[1/1] RUN big', at: now - 2000, durationMs: 1000 });
    r.emit({ type: 'vertex.status', id: 'a', name: 'creating layer', at: now - 2000 });
    expect(r.frame(false).find((l) => l.includes('creating layer'))).toMatch(/^ => => creating layer 2\.\ds$/);
    r.emit({ type: 'vertex.status', id: 'a', name: 'creating layer', at: now - 2000, durationMs: 4200 });
    expect(r.frame(true)).toContain(' => => creating layer 4.2s done');
    r.close();
  });

  it('clips a live frame to the rows, keeping running steps and their last output lines', () => {
    const r = new TtyRenderer(() => {}, () => 60, 100000, { run: '', error: '', cancel: '', warning: '' }, () => 10);
    for (let i = 1; i <= 20; i++) r.emit({ type: 'vertex.done', id: `d${i}`, name: `[${i}/22] RUN done ${i}`, at: Date.now(), durationMs: 10 });
    r.emit({ type: 'vertex.started', id: 'r1', name: '[21/22] RUN running one', at: Date.now() });
    r.emit({ type: 'vertex.log', id: 'r1', stream: 'stdout', data: 'out-a\nout-b\nout-c\n' });
    r.emit({ type: 'vertex.started', id: 'r2', name: '[22/22] RUN 漢字の名前 🐳 running two', at: Date.now() });
    const live = r.liveFrame();
    expect(live.length).toBeLessThanOrEqual(9);
    expect(live[0]).toMatch(/^\[\+\] Building/);
    expect(live.join('\n')).toContain('RUN running one');
    expect(live.join('\n')).toContain('running two');
    expect(live.join('\n')).toContain('out-c');
    expect(live.join('\n')).toContain('RUN done 20'); // the most recent finished step
    expect(live.join('\n')).not.toContain('RUN done 1 ');
    for (const l of live) expect(displayWidth(l)).toBeLessThanOrEqual(60);
    r.close(true);
    expect(r.frame(true)[0]).toMatch(/FAILED$/);
  });
});

const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socketName, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
const socketName = `tsbuild-tty-${process.pid}`;

describe('tty view in tmux (100×20)', () => {
  let sb: Sandbox;
  beforeAll(() => {
    sb = new Sandbox();
    sb.makeBaseImage();
  });
  afterAll(() => {
    try {
      tmux('kill-server');
    } catch {
      // no server left
    }
    sb?.cleanup();
  });

  /** Run `tsbuild build --progress tty CTX` in a new 100×20 pane; resolve with the pane's name once it exited. */
  async function runInPane(name: string, ctx: string, during?: () => Promise<void>): Promise<void> {
    const env = `TSBUILD_ROOT='${sb.root}' TSBUILD_RUNTIME='${sb.runtime}' TSBUILD_NO_MEMO=1`;
    const cmd = `env -u NO_COLOR ${env} '${process.execPath}' '${join(repo, 'bin/tsbuild')}' build --progress tty '${ctx}'; echo "EXIT=$?"; sleep 600`;
    tmux('new-session', '-d', '-s', name, '-x', '100', '-y', '20', cmd);
    if (during) await during();
    for (let i = 0; i < 1200; i++) {
      if (tmux('capture-pane', '-p', '-t', name).includes('EXIT=')) return;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`the build in tmux did not end:\n${tmux('capture-pane', '-p', '-J', '-S', '-', '-t', name)}`);
  }

  it('a 24-step build: the scrollback grows by at most the final summary, no line wraps, the clock ticks', async () => {
    const ctx = join(sb.dir, 'ctx24');
    mkdirSync(ctx);
    const steps = ['FROM busybox:latest'];
    for (let i = 1; i <= 22; i++) steps.push(i === 5 ? `RUN echo 漢字漢字漢字漢字漢字漢字漢字漢字漢字漢字漢字漢字 🐳🐳🐳🐳🐳🐳🐳🐳🐳🐳 step ${i} padding padding padding padding > /s${i}` : `RUN for j in 1 2 3 4 5 6 7 8; do echo step ${i} line $j; done`);
    steps.push('RUN sleep 4');
    writeFileSync(join(ctx, 'Dockerfile'), steps.join('\n') + '\n');
    const ticks: string[] = [];
    await runInPane('b24', ctx, async () => {
      // Two looks at the silent `sleep 4` step, a second apart: its clock must have moved.
      for (let i = 0; i < 1200 && ticks.length < 2; i++) {
        const line = tmux('capture-pane', '-p', '-t', 'b24').split('\n').find((l) => l.includes('RUN sleep 4'));
        if (line && /\d+\.\ds\s*$/.test(line) && !tmux('capture-pane', '-p', '-t', 'b24').includes('FINISHED')) {
          ticks.push(line.trim().split(/\s+/).pop()!);
          if (ticks.length === 1) await new Promise((r) => setTimeout(r, 1200));
        } else await new Promise((r) => setTimeout(r, 100));
      }
    });
    const all = tmux('capture-pane', '-p', '-J', '-S', '-', '-E', '-', '-t', 'b24').replace(/\n+$/, '').split('\n').map((l) => l.trimEnd());
    const history = Number(tmux('display-message', '-p', '-t', 'b24', '#{history_size}').trim());
    const start = all.findIndex((l) => l.startsWith('[+] Building'));
    const summary = all.slice(start, all.findIndex((l) => l.startsWith('EXIT=')));
    expect(all.filter((l) => l.startsWith('[+] Building')), all.join('\n')).toHaveLength(1);
    expect(summary[0]).toMatch(/\(25\/25\) FINISHED$/); // 24 Dockerfile steps + the export
    expect(history, all.join('\n')).toBeLessThanOrEqual(summary.length);
    for (const l of all) expect(displayWidth(l), l).toBeLessThanOrEqual(100);
    expect(all.some((l) => l.includes('漢字') && l.includes('…'))).toBe(true);
    expect(ticks).toHaveLength(2);
    expect(ticks[0]).not.toBe(ticks[1]);
    expect(summary.at(-1)).toMatch(/^build finished in \d+\.\d\ds$/);
  });

  it('a failed build says FAILED, not FINISHED', async () => {
    const ctx = join(sb.dir, 'ctxfail');
    mkdirSync(ctx);
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM busybox:latest\nRUN echo about to fail && false\n');
    await runInPane('bfail', ctx);
    const all = tmux('capture-pane', '-p', '-J', '-S', '-', '-E', '-', '-t', 'bfail');
    expect(all).toMatch(/^\[\+\] Building [\d.]+s \(\d+\/\d+\) FAILED$/m);
    expect(all).not.toMatch(/FINISHED/);
    expect(all).toMatch(/EXIT=1/);
  });
});
