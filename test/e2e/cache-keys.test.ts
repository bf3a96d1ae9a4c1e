/**
 * Cache-key rules, end to end through the CLI: for each case a first build, a change, a second build, and
 * which steps hit — including the surprising ones (ARG declared but unused, mode change, mtime-only change,
 * identical content from another directory, a .dockerignore'd file changed) — and, for each miss, the
 * reason the progress output gives.
 */
import { describe, expect, it } from 'vitest';
import { chmodSync, cpSync, mkdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suiteSandbox } from './harness.js';
import { parseSteps } from './cache-steps.js';

const sb = suiteSandbox();

let n = 0;
function project(files: Record<string, string>): string {
  const dir = join(sb.dir, `p${++n}`);
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(join(dir, rel, '..'), { recursive: true });
    // Every case's content is its own: the cache is content-addressed and shared by the cases.
    writeFileSync(join(dir, rel), text.replaceAll('@', String(n)));
  }
  return dir;
}

async function twice(files: Record<string, string>, change: (dir: string) => void, args1: string[] = [], args2: string[] = args1) {
  const dir = project(files);
  const first = parseSteps((await sb.build([...args1, dir])).stderr);
  for (const [name, s] of first) if (!name.startsWith('FROM')) expect(s.cached, name).toBe(false);
  change(dir);
  return parseSteps((await sb.build([...args2, dir])).stderr);
}

const df = (...lines: string[]) => ['FROM busybox', ...lines].join('\n') + '\n';

describe('cache keys (e2e)', () => {
  it('mtime-only change: hits', async () => {
    const steps = await twice({ Dockerfile: df('COPY a.txt /a.txt', 'RUN cat /a.txt'), 'a.txt': 'a\n' }, (d) => utimesSync(join(d, 'a.txt'), 1000, 1000));
    expect(steps.get('COPY a.txt /a.txt')).toEqual({ cached: true, miss: [] });
    expect(steps.get('RUN cat /a.txt')?.cached).toBe(true);
  });

  it('mode change: misses, says which file and mode; the next step says its parent changed', async () => {
    const steps = await twice({ Dockerfile: df('COPY a.txt /a.txt', 'RUN cat /a.txt'), 'a.txt': 'mode @\n' }, (d) => chmodSync(join(d, 'a.txt'), 0o755));
    expect(steps.get('COPY a.txt /a.txt')).toEqual({ cached: false, miss: ['file changed: a.txt (mode 644 → 755)'] });
    expect(steps.get('RUN cat /a.txt')).toEqual({ cached: false, miss: ['parent step changed ([2/3] COPY a.txt /a.txt)'] });
  });

  it('content change in a copied directory: names the file', async () => {
    const steps = await twice({ Dockerfile: df('COPY src/ /src/'), 'src/a.txt': 'a\n', 'src/lib/b.txt': 'b\n' }, (d) => {
      writeFileSync(join(d, 'src/lib/b.txt'), 'B\n');
      writeFileSync(join(d, 'src/new.txt'), 'n\n');
    });
    expect(steps.get('COPY src/ /src/')).toEqual({ cached: false, miss: ['2 files changed: src/lib/b.txt (content), src/new.txt (added)'] });
  });

  it('a .dockerignore\'d file changed: hits', async () => {
    const steps = await twice({ Dockerfile: df('COPY . /app/'), '.dockerignore': '*.log\n', 'a.txt': 'a\n', 'x.log': '1\n' }, (d) => writeFileSync(join(d, 'x.log'), '2\n'));
    expect(steps.get('COPY . /app/')?.cached).toBe(true);
  });

  it('a file no COPY references changed: hits', async () => {
    const steps = await twice({ Dockerfile: df('COPY a.txt /a.txt'), 'a.txt': 'unref @\n', 'b.txt': 'b\n' }, (d) => writeFileSync(join(d, 'b.txt'), 'B\n'));
    expect(steps.get('COPY a.txt /a.txt')?.cached).toBe(true);
  });

  it('identical content from another directory (same base name): hits', async () => {
    const steps = await twice({ Dockerfile: df('COPY one/conf.txt /conf.txt'), 'one/conf.txt': 'c\n', 'two/conf.txt': 'c\n' }, (d) =>
      writeFileSync(join(d, 'Dockerfile'), df('COPY two/conf.txt /conf.txt')),
    );
    expect(steps.get('COPY two/conf.txt /conf.txt')?.cached).toBe(true);
  });

  it('the same project in another checkout: hits', async () => {
    const dir = project({ Dockerfile: df('COPY a.txt /a.txt', 'RUN cat /a.txt'), 'a.txt': 'moved @\n' });
    await sb.build([dir]);
    const moved = join(sb.dir, `moved-${n++}`);
    cpSync(dir, moved, { recursive: true });
    rmSync(dir, { recursive: true });
    const steps = parseSteps((await sb.build([moved])).stderr);
    const ran = [...steps].filter(([name, s]) => !s.cached && !name.startsWith('exporting')).map(([name]) => name);
    expect(ran).toEqual([]);
    expect(steps.get('RUN cat /a.txt')?.cached).toBe(true);
  });

  it('ARG declared but unused: a RUN after it misses when its value changes (naming the arg), a COPY hits', async () => {
    const steps = await twice(
      { Dockerfile: df('ARG V=1', 'COPY a.txt /a.txt', 'RUN echo hi'), 'a.txt': 'arg @\n' },
      () => {},
      [],
      ['--build-arg', 'V=2'],
    );
    expect(steps.get('COPY a.txt /a.txt')?.cached).toBe(true);
    expect(steps.get('RUN echo hi')).toEqual({ cached: false, miss: ['build arg/env changed: V (value)'] });
  });

  it('a global ARG not declared in the stage: hits', async () => {
    const steps = await twice({ Dockerfile: 'ARG V=1\nFROM busybox\nRUN echo global\n' }, () => {}, [], ['--build-arg', 'V=2']);
    expect(steps.get('RUN echo global')?.cached).toBe(true);
  });

  it('proxy build args never count', async () => {
    const steps = await twice({ Dockerfile: df('RUN echo proxy') }, () => {}, ['--build-arg', 'http_proxy=http://a:1'], ['--build-arg', 'HTTPS_PROXY=http://b:2', '--build-arg', 'no_proxy=x']);
    expect(steps.get('RUN echo proxy')?.cached).toBe(true);
  });

  it.each<[string, string, string, string]>([
    ['ENV', 'ENV A=1\nRUN echo env', 'ENV A=2\nRUN echo env', 'build arg/env changed: A (value)'],
    ['WORKDIR', 'WORKDIR /a\nRUN echo wd', 'WORKDIR /b\nRUN echo wd', 'WORKDIR changed: /a → /b'],
    ['USER', 'USER 1\nRUN echo user', 'USER 2\nRUN echo user', 'USER changed: "1" → "2"'],
  ])('%s change: the RUN misses and says so', async (_what, before, after, reason) => {
    const steps = await twice({ Dockerfile: df(...before.split('\n')) }, (d) => writeFileSync(join(d, 'Dockerfile'), df(...after.split('\n'))));
    const run = [...steps.entries()].find(([k]) => k.startsWith('RUN'))![1];
    expect(run.cached).toBe(false);
    expect(run.miss[0]).toBe(reason);
  });

  it('COPY --chmod change: misses with the flag named', async () => {
    const steps = await twice({ Dockerfile: df('COPY --chmod=644 a.txt /a.txt'), 'a.txt': 'a\n' }, (d) => writeFileSync(join(d, 'Dockerfile'), df('COPY --chmod=755 a.txt /a.txt')));
    expect(steps.get('COPY --chmod=755 a.txt /a.txt')).toEqual({ cached: false, miss: ['--chmod changed'] });
  });

  it('--no-cache-filter STAGE reruns that stage and what depends on it, nothing else', async () => {
    const dockerfile = 'FROM busybox AS a\nRUN echo a > /a\nFROM busybox AS b\nRUN echo b > /b\nFROM busybox\nCOPY --from=a /a /a\nRUN echo final\n';
    const steps = await twice({ Dockerfile: dockerfile }, () => {}, [], ['--no-cache-filter', 'a']);
    expect(steps.get('RUN echo a > /a')).toEqual({ cached: false, miss: ['--no-cache-filter a'] });
    expect(steps.get('COPY --from=a /a /a')?.cached).toBe(false);
    expect(steps.get('RUN echo final')?.cached).toBe(false);
    expect(steps.get('RUN echo b > /b')).toBeUndefined(); // not needed by the target
  });

  it('--explain prints every step\'s decision', async () => {
    const dir = project({ Dockerfile: df('COPY a.txt /a.txt', 'RUN cat /a.txt'), 'a.txt': 'explain @\n' });
    await sb.build([dir]);
    writeFileSync(join(dir, 'a.txt'), 'b\n');
    const md = join(dir, 'metadata.json');
    const out = await sb.build(['--explain', '--metadata-file', md, dir]);
    const steps = (JSON.parse(readFileSync(md, 'utf8')) as { 'tsbuild.steps': { name: string; cached: boolean; cacheMiss?: string[] }[] })['tsbuild.steps'];
    expect(steps.find((s) => s.name.endsWith('COPY a.txt /a.txt'))).toMatchObject({ cached: false, cacheMiss: ['file changed: a.txt (content)'] });
    expect(steps.find((s) => s.name.includes('FROM'))).toMatchObject({ cached: true });
    expect(out.stderr).toMatch(/Cache decisions/);
    expect(out.stderr).toMatch(/CACHED \[1\/3\] FROM/);
    expect(out.stderr).toMatch(/RAN {4}\[2\/3\] COPY a\.txt \/a\.txt[^\n]*\n[^\n]*key [0-9a-f]{16}\n\s+miss: file changed: a\.txt \(content\)/);
    expect(out.stderr).toMatch(/1 cached, 2 ran/);
  });
});
