/**
 * Differential suite against BuildKit itself: every Dockerfile fixture in test/fixtures/dockerfiles/ is built by
 * tsbuild and by the reference BuildKit v0.13 (../shared/reference/buildkit.sh, started here; when it cannot be
 * fetched or started this suite fails, it never skips), from the same busybox base pulled from a local registry.
 * The normalised final file tree (path, type, mode, uid:gid, size, content digest, link target, xattrs) and the
 * config (Env, Cmd, Entrypoint, WorkingDir, User, ExposedPorts, Labels, Volumes, StopSignal, Healthcheck, Shell,
 * OnBuild, history length and empty_layer flags) must be equal.
 *
 * A fixture's build context is its `context/` dir (none: an empty context); options.json gives build args and the
 * target. A fixture both builders reject (a golden case that needs an image or file that does not exist) and a
 * difference that is BuildKit's bug are listed, with the reason, in test/fixtures/dockerfiles/KNOWN-DIFFERENCES.json.
 */
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestRegistry } from '../registry/harness.js';
import { Sandbox, fixtures, skopeoInspectConfig } from './harness.js';
import { docker, limiter, normalisedConfig, normalisedTree, rewriteBase, startReference, stopReference, unpackRootfs, type Reference, type Run } from './reference.js';

interface Known {
  /** Both builders reject it (a golden case that needs an image, a user or a tool the busybox base lacks). */
  rejected: Record<string, string>;
  /** BuildKit v0.13 cannot build it here (a labs flag needs the `# syntax=` frontend from the internet, a URL). */
  buildkitCannotBuild: Record<string, string>;
  /** tsbuild rejects what v0.13 builds (a deviation left open, with the reason). */
  tsbuildRejects: Record<string, string>;
  differences: Record<string, { tree?: string[]; config?: string[]; reason: string }>;
}
const dir = join(fixtures, 'dockerfiles');
const known: Known = JSON.parse(readFileSync(join(dir, 'KNOWN-DIFFERENCES.json'), 'utf8'));
// TSBUILD_DIFF_CASES=a,b narrows a local run to some fixtures while working on them.
const only = process.env.TSBUILD_DIFF_CASES?.split(',').filter(Boolean);
const cases = readdirSync(dir)
  .filter((n) => statSync(join(dir, n)).isDirectory() && (!only || only.includes(n)))
  .sort();

interface Options {
  buildArgs?: Record<string, string>;
  target?: string;
}

interface Outcome {
  ok: boolean;
  log: string;
  tree?: string[];
  config?: Record<string, unknown>;
}

const sb = new Sandbox();
let registry: TestRegistry;
let ref: Reference;
let base = '';
const refQueue = limiter(2);
const refResults = new Map<string, Promise<Outcome>>();

function prepare(name: string, side: string): { df: string; ctx: string; opts: Options } {
  const src = join(dir, name);
  const work = join(sb.dir, 'cases', `${name}.${side}`);
  const ctx = join(work, 'context');
  mkdirSync(work, { recursive: true });
  if (existsSync(join(src, 'context'))) cpSync(join(src, 'context'), ctx, { recursive: true, verbatimSymlinks: true });
  else mkdirSync(ctx);
  const df = join(work, 'Dockerfile');
  writeFileSync(df, rewriteBase(readFileSync(join(src, 'Dockerfile'), 'utf8'), base));
  const opts: Options = existsSync(join(src, 'options.json')) ? JSON.parse(readFileSync(join(src, 'options.json'), 'utf8')) : {};
  return { df, ctx, opts };
}

function flags(opts: Options): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(opts.buildArgs ?? {})) out.push('--build-arg', `${k}=${v}`);
  if (opts.target) out.push('--target', opts.target);
  return out;
}

function outcome(archive: string, tag: string, log: string): Outcome {
  const rootfs = unpackRootfs(dirname(archive), archive, tag);
  return { ok: true, log, tree: normalisedTree(rootfs), config: normalisedConfig(skopeoInspectConfig(archive)) };
}

async function buildReference(name: string): Promise<Outcome> {
  const { df, ctx, opts } = prepare(name, 'bk');
  const tag = `tsbuild-diff:${name}`;
  const b: Run = await docker(ref, ['buildx', 'build', '--network', 'host', '--progress', 'plain', '--load', '-t', tag, '-f', df, ...flags(opts), ctx]);
  if (b.code !== 0) return { ok: false, log: b.stderr };
  const archive = join(sb.dir, 'cases', `${name}.bk`, 'reference.tar');
  const s = await docker(ref, ['save', '-o', archive, tag]);
  await docker(ref, ['rmi', tag]);
  if (s.code !== 0) throw new Error(`docker save ${tag}: ${s.stderr}`);
  return outcome(archive, name, b.stderr);
}

async function buildTsbuild(name: string): Promise<Outcome> {
  const { df, ctx, opts } = prepare(name, 'ts');
  const archive = join(sb.dir, 'cases', `${name}.ts`, 'tsbuild.tar');
  const b = await sb.tsbuild(['build', '--progress', 'plain', '-f', df, '--output', `type=oci,dest=${archive},name=diff:${name}`, ...flags(opts), ctx]);
  if (b.code !== 0) return { ok: false, log: b.stderr };
  return outcome(archive, name, b.stderr);
}

/** Drop what KNOWN-DIFFERENCES.json lists for `name` (tree paths and their contents, config keys). */
function withoutKnown(name: string, o: Outcome): { tree: string[]; config: Record<string, unknown> } {
  const d = known.differences[name];
  const tree = (o.tree ?? []).filter((line) => !(d?.tree ?? []).some((p) => line === p || line.startsWith(p + ' ') || line.startsWith(p + '/')));
  const config = { ...(o.config ?? {}) };
  for (const k of d?.config ?? []) delete config[k];
  return { tree, config };
}

beforeAll(async () => {
  ref = startReference();
  registry = await TestRegistry.start('open');
  sb.makeBaseImage();
  base = `${registry.domain}/busybox`;
  await sb.tsbuild(['tag', 'busybox:latest', `${base}:latest`]);
  const push = await sb.tsbuild(['push', `${base}:latest`]);
  if (push.code !== 0) throw new Error(`push ${base}: ${push.stderr}`);
  // Reference builds start now, two at a time, while tsbuild builds the same fixtures in the tests.
  for (const name of cases) refResults.set(name, refQueue(() => buildReference(name)));
  // Unhandled until a test awaits it: keep a failed promise from being reported early.
  for (const p of refResults.values()) p.catch(() => undefined);
}, 600_000);

afterAll(async () => {
  await Promise.allSettled(refResults.values());
  await registry?.stop();
  stopReference(ref);
  sb.cleanup();
});

describe('KNOWN-DIFFERENCES.json', () => {
  it('names only existing fixtures, each with a reason', () => {
    const all = readdirSync(dir);
    for (const [name, why] of Object.entries(known.rejected)) {
      expect(all, name).toContain(name);
      expect(why.length, name).toBeGreaterThan(10);
    }
    for (const [name, why] of [...Object.entries(known.buildkitCannotBuild), ...Object.entries(known.tsbuildRejects)]) {
      expect(all, name).toContain(name);
      expect(why.length, name).toBeGreaterThan(10);
    }
    for (const [name, d] of Object.entries(known.differences)) {
      expect(all, name).toContain(name);
      expect(d.reason.length, name).toBeGreaterThan(10);
    }
  });
});

describe('tsbuild and BuildKit v0.13 build every fixture alike', () => {
  it.each(cases)('%s', async (name) => {
    const [ts, bk] = await Promise.all([buildTsbuild(name), refResults.get(name)!]);
    if (known.buildkitCannotBuild[name] !== undefined) {
      // Tested elsewhere (test/e2e/dockerfile.test.ts); the listing stays honest.
      expect(bk.ok, `${name}: listed as one BuildKit v0.13 cannot build`).toBe(false);
      return;
    }
    if (known.tsbuildRejects[name] !== undefined) {
      expect({ tsbuild: ts.ok, buildkit: bk.ok }, `${name}: listed as rejected by tsbuild only`).toEqual({ tsbuild: false, buildkit: true });
      return;
    }
    if (known.rejected[name] !== undefined) {
      // Both must reject it (a fixture that builds after all must leave the list).
      expect({ tsbuild: ts.ok, buildkit: bk.ok }, `${name}: listed as rejected by both`).toEqual({ tsbuild: false, buildkit: false });
      return;
    }
    expect(bk.ok, `BuildKit failed on ${name}:\n${bk.log}`).toBe(true);
    expect(ts.ok, `tsbuild failed on ${name}:\n${ts.log}`).toBe(true);
    const a = withoutKnown(name, ts);
    const b = withoutKnown(name, bk);
    expect(a.config).toEqual(b.config);
    expect(a.tree.join('\n')).toEqual(b.tree.join('\n'));
  }, 300_000);
});
