/**
 * The unchanged rebuild FROM a registry image (issue 15's first target), side by side in one run
 * (`npm run bench`'s "noop" section, alone: `npm run build && node dist/test/bench/noop-registry.js [RUNS]`): a 3-stage build of ~200 files with a
 * .dockerignore, FROM a busybox image in a local docker-registry (HTTP on 127.0.0.1), built once, then
 * rebuilt unchanged RUNS times (default 7), the commands interleaved so that each sees the same load:
 * - tsbuild, run as a command as a user's shell runs it (the rebuild memo answers: one HEAD of the base
 *   manifest by tag);
 * - tsbuild with TSBUILD_NO_MEMO=1 (the normal build path, for comparison);
 * - `node -e 0` (the floor: the target is ≤ 1.5× of it); where NODE_EXTRA_CA_CERTS is set, both of these also
 *   without it (Node pays ~40 ms for it at every start; bin/tsbuild defers it: src/tls/deferred-ca.ts);
 * - the reference BuildKit v0.13 (`../shared/reference/buildkit.sh`, warm daemon, `docker buildx build
 *   --network host`), when it can be started (else its column says why);
 * - Docker 20.10's BuildKit (`./docker2010.sh`: Debian bookworm's docker.io, warm daemon, `DOCKER_BUILDKIT=1
 *   docker build --network host`), likewise.
 * Prints medians (ms, wall clock, start-up included) and the ratios. Kept apart from run.ts (its own file).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalContentStore } from '../../src/content/store.js';
import { RegistryClient } from '../../src/registry/index.js';
import { TestRegistry } from '../registry/harness.js';
import { busyboxImage } from '../registry/images.js';
import { filler, median } from './stats.js';

const RUNS = Number(process.argv[2] ?? 7);
const repo = resolve(fileURLToPath(import.meta.url), '../../../..');
const tsbuild = join(repo, 'bin/tsbuild');
const reference = join(repo, '..', 'shared', 'reference', 'buildkit.sh');
const docker2010 = join(repo, 'test', 'bench', 'docker2010.sh');

/** Run a command to completion (asynchronously: the test registry's pipes are read by this process); ms of wall clock. */
function timed(cmd: string, args: string[], env: Record<string, string> = {}): Promise<number> {
  return new Promise((res, rej) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('error', rej);
    child.on('close', (code) => (code === 0 ? res(Number(process.hrtime.bigint() - t0) / 1e6) : rej(new Error(`${cmd} ${args.join(' ')} exited ${code}:\n${err.slice(-2000)}`))));
  });
}

function project(dir: string, base: string): void {
  for (let i = 0; i < 200; i++) {
    const rel = `${['src', 'lib', 'docs'][i % 3]}/m${i % 10}/f${i}.txt`;
    mkdirSync(join(dir, rel, '..'), { recursive: true });
    writeFileSync(join(dir, rel), filler(i, 2000));
  }
  writeFileSync(join(dir, '.dockerignore'), 'docs/m9\n*.tmp\n');
  writeFileSync(
    join(dir, 'Dockerfile'),
    [`FROM ${base} AS deps`, 'COPY lib/ /app/lib/', 'RUN ls -R /app/lib > /deps.txt', `FROM ${base} AS build`, 'COPY src/ /app/src/', 'COPY --from=deps /deps.txt /app/', 'RUN cat /app/deps.txt | wc -l > /app/n', `FROM ${base}`, 'COPY --from=build /app /app', 'COPY docs/ /docs/', ''].join('\n'),
  );
}

const work = mkdtempSync(join(tmpdir(), 'tsbuild-bench-noop-registry-'));
let reg: TestRegistry | undefined;
try {
  reg = await TestRegistry.start('open');
  const fixtures = new LocalContentStore(join(work, 'fixtures'));
  const img = await busyboxImage(fixtures, { extra: 1, unique: 'bench-noop' });
  const base = `${reg.domain}/bench/noop:v1`;
  await new RegistryClient({ credentials: async () => undefined }).push([base], img.manifest, { content: fixtures });
  const ctx = join(work, 'ctx');
  project(ctx, base);
  const env = { TSBUILD_ROOT: join(work, 'store') };
  const ts = ['build', '--progress', 'plain', '-t', 'bench-noop:1', ctx];
  await timed(tsbuild, [...ts], env);
  await new Promise((r) => setTimeout(r, 1100)); // the memo does not vouch for files changed within a second

  /** A private daemon from `script` (start, then env), warmed with one build: its docker and env, else why not. */
  const daemon = async (script: string, name: string, build: string[]): Promise<{ docker: string; env: Record<string, string> } | string> => {
    try {
      if (!existsSync(script)) throw new Error(`missing ${script}`);
      execFileSync('bash', [script, 'start'], { stdio: 'pipe' });
      const line = execFileSync('bash', [script, 'env']).toString().trim();
      const e = Object.fromEntries(line.split(/\s+/).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
      const docker = e.DOCKER!;
      delete e.DOCKER;
      await timed(docker, [...build, '--network', 'host', '-t', 'bench-noop:1', ctx], e); // warm: cold build + pull
      return { docker, env: e };
    } catch (err) {
      return `${name} not measured: ${(err as Error).message.split('\n')[0]}`;
    }
  };
  const bk = await daemon(reference, 'BuildKit v0.13', ['buildx', 'build']);
  // Docker 20.10 (Debian bookworm's docker.io, ./docker2010.sh): its embedded BuildKit, `DOCKER_BUILDKIT=1 docker build`.
  const bk20 = await daemon(docker2010, 'Docker 20.10 BuildKit', ['build']);

  // NODE_EXTRA_CA_CERTS costs Node ~40 ms at every start (its whole root store is built then), and bin/tsbuild
  // defers it (src/tls/deferred-ca.ts) while `node -e 0` cannot: where it is set, both are also timed without it.
  const caVar = !!process.env.NODE_EXTRA_CA_CERTS;
  const noCa = { NODE_EXTRA_CA_CERTS: '' };
  const rows: Record<string, number[]> = { 'tsbuild (memo)': [], 'tsbuild (TSBUILD_NO_MEMO=1)': [], 'node -e 0': [], 'BuildKit v0.13': [], 'Docker 20.10 BuildKit': [] };
  if (caVar) Object.assign(rows, { 'tsbuild (memo), no CA var': [], 'node -e 0, no CA var': [] });
  for (let i = 0; i < RUNS; i++) {
    rows['tsbuild (memo)']!.push(await timed(tsbuild, [...ts], env));
    rows['node -e 0']!.push(await timed(process.execPath, ['-e', '0']));
    if (caVar) {
      rows['tsbuild (memo), no CA var']!.push(await timed(tsbuild, [...ts], { ...env, ...noCa }));
      rows['node -e 0, no CA var']!.push(await timed(process.execPath, ['-e', '0'], noCa));
    }
    if (typeof bk !== 'string') rows['BuildKit v0.13']!.push(await timed(bk.docker, ['buildx', 'build', '--network', 'host', '-t', 'bench-noop:1', ctx], bk.env));
    if (typeof bk20 !== 'string') rows['Docker 20.10 BuildKit']!.push(await timed(bk20.docker, ['build', '--network', 'host', '-t', 'bench-noop:1', ctx], bk20.env));
    rows['tsbuild (TSBUILD_NO_MEMO=1)']!.push(await timed(tsbuild, [...ts], { ...env, TSBUILD_NO_MEMO: '1' }));
  }
  const m = Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, v.length ? median(v) : NaN]));
  console.log(`\nUnchanged rebuild FROM a registry image (3 stages, 200 files, .dockerignore; median of ${RUNS}, interleaved; wall ms)`);
  for (const [k, v] of Object.entries(m)) console.log(`  ${k.padEnd(30)} ${Number.isNaN(v) ? '-' : v.toFixed(0).padStart(6)}`);
  const memo = m['tsbuild (memo)']!;
  console.log(`  tsbuild / node -e 0:          ${(memo / m['node -e 0']!).toFixed(2)}×   (target ≤ 1.5×)${caVar ? ' with NODE_EXTRA_CA_CERTS set, as in this environment' : ''}`);
  if (caVar) console.log(`  the same without it:          ${(m['tsbuild (memo), no CA var']! / m['node -e 0, no CA var']!).toFixed(2)}×   (NODE_EXTRA_CA_CERTS unset for both)`);
  if (typeof bk === 'string') console.log(`  ${bk}`);
  else console.log(`  tsbuild / BuildKit v0.13:     ${(memo / m['BuildKit v0.13']!).toFixed(2)}×   (target ≤ 1.0×); normal path / BuildKit ${(m['tsbuild (TSBUILD_NO_MEMO=1)']! / m['BuildKit v0.13']!).toFixed(2)}×`);
  if (typeof bk20 === 'string') console.log(`  ${bk20}`);
  else console.log(`  tsbuild / Docker 20.10:       ${(memo / m['Docker 20.10 BuildKit']!).toFixed(2)}×   (target ≤ 1.0×); normal path / Docker 20.10 ${(m['tsbuild (TSBUILD_NO_MEMO=1)']! / m['Docker 20.10 BuildKit']!).toFixed(2)}×`);
} finally {
  await reg?.stop();
  rmSync(work, { recursive: true, force: true });
}
