/**
 * What scripts/bundle.mjs promises about dist/bundle/main.cjs (the CLI bin/tsbuild compiles with V8's code
 * cache, src/cli/code-cache.ts): ASCII only (it is decoded as Latin-1), no `import()` left for vm.Script,
 * and a build that pushes to a registry does not load Node's HTTP/2 (undici's HTTP/2 client gets its
 * constants without it) nor, for a plain-HTTP registry named before, TLS.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isAscii } from 'node:buffer';
import { transform } from 'esbuild';
import { repo } from '../e2e/harness.js';
import { TestRegistry } from '../registry/harness.js';

const main = join(repo, 'dist', 'bundle', 'main.cjs');
let reg: TestRegistry;
const dir = mkdtempSync(join(tmpdir(), 'tsb-bundle-'));

beforeAll(async () => {
  reg = await TestRegistry.start('open');
}, 120_000);
afterAll(async () => {
  await reg?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('dist/bundle/main.cjs', () => {
  it('is ASCII and has no import() of anything outside it', async () => {
    const bytes = readFileSync(main);
    expect(isAscii(bytes)).toBe(true);
    // The code without its comments (JSDoc types say import('…') too): a real import() would read import("….
    const code = (await transform(bytes.toString('latin1'), { minifyWhitespace: true, legalComments: 'none', format: 'cjs', platform: 'node' })).code;
    expect(code).toContain('require("node:fs")');
    expect(code).not.toMatch(/[^\w$.]import\(/);
  });

  it('a build pushed to a registry loads neither node:http2 nor, over plain HTTP it knows, TLS', () => {
    const ctx = join(dir, 'ctx');
    mkdirSync(ctx, { recursive: true });
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY a.txt /a.txt\n');
    const preload = join(dir, 'modules.cjs');
    writeFileSync(preload, "process.on('exit', () => require('fs').writeSync(2, 'MODULES ' + process.moduleLoadList.join(',') + '\\n'));\n");
    const build = (n: number) => {
      writeFileSync(join(ctx, 'a.txt'), `${n}\n`);
      const r = spawnSync(process.execPath, ['-r', preload, join(repo, 'bin', 'tsbuild'), 'build', '--progress', 'plain', '--root', join(dir, 'store'), '-o', `type=registry,name=${reg.domain}/bundle/app:${n}`, ctx], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      return /^MODULES (.*)$/m.exec(r.stderr)![1]!.split(',');
    };
    const first = build(1);
    expect(first).not.toContain('NativeModule http2');
    expect(first.some((m) => m.startsWith('NativeModule internal/deps/undici'))).toBe(false);
    // The first push tried HTTPS on the loopback registry before plain HTTP; the store now knows (registry/schemes).
    const second = build(2);
    expect(second).not.toContain('NativeModule http2');
    expect(second).not.toContain('NativeModule tls');
    expect(second).toContain('NativeModule http');
  });
});
