import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderReport } from '../../../../src/cli/report/html.js';
import type { BuildRun, StepInfo } from '../../../../src/cli/report/model.js';
import { distinctColours, openPage } from './browser.js';

const dir = mkdtempSync(join(tmpdir(), 'tsbuild-report-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const steps: StepInfo[] = [
  { id: 'a', name: '[build 1/3] FROM busybox', stage: 'build', kind: 'image', inputs: [], line: 1 },
  { id: 'b', name: '[build 2/3] COPY src/ ./src/', stage: 'build', kind: 'copy', inputs: ['a'], line: 2, contextSources: ['src'] },
  { id: 'c', name: '[build 3/3] RUN make </script><b>x</b>', stage: 'build', kind: 'exec', inputs: ['b'], line: 3 },
  { id: 'd', name: '[final 2/2] COPY --from=build /out /out', stage: 'final', kind: 'copy', inputs: ['a', 'c'], line: 6 },
];
const run: BuildRun = {
  startedAt: 0,
  wallMs: 5200,
  steps: [
    { id: 'a', status: 'cached', startMs: 300, durationMs: 0 },
    { id: 'b', status: 'ran', startMs: 400, durationMs: 300, cacheMiss: ['file changed: src/main.c (content)'] },
    { id: 'c', status: 'ran', startMs: 700, durationMs: 4000, cacheMiss: ['parent step changed ([build 2/3] COPY src/ ./src/)'] },
    { id: 'd', status: 'failed', startMs: 4700, durationMs: 300, error: 'no such file: /out' },
  ],
};

function write(name: string, html: string): string {
  const p = join(dir, name);
  writeFileSync(p, html);
  return p;
}

describe('the report page in a real browser (chromium)', () => {
  it('loads with no network request, draws one bar per step, shows a clicked bar\'s miss reason, and is not blank', async () => {
    const file = write('report.html', renderReport({ title: 'Build x', steps, timelines: [{ label: 'build', run }], tables: [{ title: 'T', columns: ['a'], rows: [['1']] }] }));
    const { page, requests, close } = await openPage(file);
    try {
      expect(requests).toEqual([]);
      expect(await page.locator('.bar').count()).toBe(steps.length);
      expect(await page.locator('.bar.ran').count()).toBe(2);
      expect(await page.locator('.bar.cached').count()).toBe(1);
      expect(await page.locator('.bar.failed').count()).toBe(1);
      // A step's name is text, never markup.
      expect(await page.locator('.timeline b').count()).toBe(0);
      await expect(page.locator('#detail').isHidden()).resolves.toBe(true);
      await page.locator('.bar[data-step="0:c"]').click();
      const detail = await page.locator('#detail').innerText();
      expect(detail).toContain('[build 3/3] RUN make </script><b>x</b>');
      expect(detail).toContain('parent step changed ([build 2/3] COPY src/ ./src/)');
      expect(detail).toContain('4.00 s');
      await page.locator('.bar[data-step="0:d"]').click();
      expect(await page.locator('#detail').innerText()).toContain('no such file: /out');
      const shot = await page.screenshot({ fullPage: true });
      expect(await distinctColours(shot)).toBeGreaterThan(40);
      // The theme button switches to dark: the background changes.
      const bgLight = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      await page.locator('#theme').click();
      const bgDark = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      expect(bgDark).not.toBe(bgLight);
    } finally {
      await close();
    }
  });

  it('follows a dark system theme; a blank page fails the colour check', async () => {
    const file = write('dark.html', renderReport({ title: 'Build y', steps, timelines: [{ label: 'build', run }] }));
    const dark = await openPage(file, { colorScheme: 'dark' });
    try {
      expect(await dark.page.evaluate(() => getComputedStyle(document.body).backgroundColor)).toBe('rgb(13, 17, 23)');
    } finally {
      await dark.close();
    }
    const blank = await openPage(write('blank.html', '<!doctype html><body style="background:#fff"></body>'));
    try {
      expect(await distinctColours(await blank.page.screenshot())).toBeLessThan(5);
    } finally {
      await blank.close();
    }
  });
});
