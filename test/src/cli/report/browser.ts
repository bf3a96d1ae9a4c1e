/**
 * Open a report page in a real browser: Debian's chromium, headless, driven by playwright-core
 * (installed by scripts/test.sh; never skipped). Every request the page makes is recorded, so a test can
 * prove the page needs no network.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export interface OpenedPage {
  page: Page;
  /** URLs of every request after the page's own file. */
  requests: string[];
  close(): Promise<void>;
}

export async function openPage(file: string, opts: { colorScheme?: 'light' | 'dark' } = {}): Promise<OpenedPage> {
  const userData = mkdtempSync(join(tmpdir(), 'tsbuild-chromium-'));
  const ctx: BrowserContext = await chromium.launchPersistentContext(userData, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 1000 },
    colorScheme: opts.colorScheme ?? 'light',
  });
  const requests: string[] = [];
  const page = ctx.pages()[0] ?? (await ctx.newPage());
  const url = `file://${file}`;
  page.on('request', (r) => {
    if (r.url() !== url) requests.push(r.url());
  });
  await page.goto(url, { waitUntil: 'load' });
  return {
    page,
    requests,
    async close() {
      await ctx.close();
      rmSync(userData, { recursive: true, force: true });
    },
  };
}

/** Distinct colours in a PNG screenshot, counted on the raw pixels (decoded with zlib, no image library). */
export async function distinctColours(png: Buffer): Promise<number> {
  const { inflateSync } = await import('node:zlib');
  const width = png.readUInt32BE(16);
  const height = png.readUInt32BE(20);
  const depth = png[24]!;
  const colourType = png[25]!;
  if (depth !== 8 || (colourType !== 6 && colourType !== 2)) throw new Error(`unexpected PNG format depth ${depth} type ${colourType}`);
  const bpp = colourType === 6 ? 4 : 3;
  const chunks: Buffer[] = [];
  for (let off = 8; off < png.length; ) {
    const len = png.readUInt32BE(off);
    const type = png.toString('latin1', off + 4, off + 8);
    if (type === 'IDAT') chunks.push(png.subarray(off + 8, off + 8 + len));
    off += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(chunks));
  const stride = width * bpp;
  const prev = Buffer.alloc(stride);
  const cur = Buffer.alloc(stride);
  const colours = new Set<number>();
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)]!;
    raw.copy(cur, 0, y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let i = 0; i < stride; i++) {
      const a = i >= bpp ? cur[i - bpp]! : 0;
      const b = prev[i]!;
      const c = i >= bpp ? prev[i - bpp]! : 0;
      let add = 0;
      if (f === 1) add = a;
      else if (f === 2) add = b;
      else if (f === 3) add = (a + b) >> 1;
      else if (f === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
        add = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      cur[i] = (cur[i]! + add) & 0xff;
    }
    for (let x = 0; x < width; x++) colours.add((cur[x * bpp]! << 16) | (cur[x * bpp + 1]! << 8) | cur[x * bpp + 2]!);
    cur.copy(prev);
  }
  return colours.size;
}
