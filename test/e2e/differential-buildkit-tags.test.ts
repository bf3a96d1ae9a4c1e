/**
 * Differential cases against BuildKit itself for a base image whose tag changes in its registry between two
 * builds (the sibling of ./differential-buildkit.test.ts, same reference: ../shared/reference/buildkit.sh, never
 * skipped). Each case has its own repository in one docker-registry on 127.0.0.1 and builds the same Dockerfile
 * (`FROM <repo>` + `RUN cat /which > /seen`) twice with both builders, with an unchanged context and the same
 * command line; between the two builds skopeo points the tag at another image. Compared: the /seen each builder
 * wrote, and the base part of each result's diff_ids (which base image it was built on).
 *
 * - moved tag, no --pull: BuildKit resolves the tag every build, so both must see the new image. tsbuild's
 *   second build is an unchanged rebuild: its rebuild memo (src/cli/replay.ts, tag-check.ts) must not answer
 *   with the old image. tsbuild builds with `-t` (a memo is kept only without -o/--push/--load, see
 *   src/cli/rebuild-memo.ts memoEligible) and the image is read back with `tsbuild save --format oci`.
 * - moved tag with --pull: both resolve again.
 * - FROM repo:tag@sha256:… of the first image: the tag moving changes nothing for either.
 * - the tag deleted from its registry (its manifest deleted by digest) between the builds: BuildKit fails with
 *   "not found", tsbuild builds on the copy in its store (a difference, asserted as it is: see the case); with
 *   --pull both fail.
 *
 * The images A and B (busybox + /which) are built and pushed by a separate tsbuild store (`maker`), so the
 * store under test has never seen them except through its FROM.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestRegistry } from '../registry/harness.js';
import { Sandbox, skopeoInspectConfig } from './harness.js';
import { docker, startReference, stopReference, unpackRootfs, type Reference } from './reference.js';

interface Result {
  ok: boolean;
  log: string;
  /** The content of /seen in the result. */
  seen?: string;
  /** The result's diff_ids without its last layer (the RUN's): the base image's layers. */
  baseLayers?: string[];
}

const maker = new Sandbox();
const sb = new Sandbox();
let registry: TestRegistry;
let ref: Reference;
/** The pushed images A and B: `${registry.domain}/difftag/src:{A,B}`, their manifest digests and diff_ids. */
const images: Record<'A' | 'B', { name: string; digest: string; diffIds: string[] }> = {} as never;
let n = 0;

const debug = { env: { TSBUILD_MEMO_DEBUG: '1' } };
const memoSaid = (stderr: string) => /rebuild memo: (.*)/.exec(stderr)?.[1];

function skopeo(args: string[]): string {
  return execFileSync('skopeo', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}

/** Point `repoTag` (`difftag/moved:v1`) at image A or B (the same manifest bytes, so the same digest). */
function pointTag(repoTag: string, to: 'A' | 'B'): void {
  skopeo(['copy', '--preserve-digests', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${images[to].name}`, `docker://${registry.domain}/${repoTag}`]);
}

/** A build context (Dockerfile only) FROM `from`, older than a second (so tsbuild's memo vouches for it). */
async function project(from: string): Promise<{ dir: string; df: string }> {
  const dir = join(sb.dir, `p${++n}`);
  mkdirSync(dir, { recursive: true });
  const df = join(dir, 'Dockerfile');
  writeFileSync(df, `FROM ${from}\nRUN cat /which > /seen\n`);
  const past = new Date(Date.now() - 60_000);
  utimesSync(df, past, past);
  utimesSync(dir, past, past);
  await sleep(1100); // the memo also compares change times, which utimes cannot set back
  return { dir, df };
}

function read(archive: string, workDir: string, tag: string, log: string): Result {
  const rootfs = unpackRootfs(workDir, archive, tag);
  const diffIds: string[] = skopeoInspectConfig(archive).rootfs?.diff_ids ?? [];
  return { ok: true, log, seen: readFileSync(join(rootfs, 'seen'), 'utf8'), baseLayers: diffIds.slice(0, -1) };
}

/** Build `p` with tsbuild into its image store as `tag`, then read it back with `tsbuild save --format oci`. */
async function buildTsbuild(p: { dir: string; df: string }, tag: string, extra: string[] = []): Promise<Result> {
  const b = await sb.tsbuild(['build', '--progress', 'plain', '-t', `difftag-${tag}`, '-f', p.df, ...extra, p.dir], debug);
  if (b.code !== 0) return { ok: false, log: b.stderr };
  const work = join(sb.dir, 'out', `ts-${tag.replace(":", "-")}-${++n}`);
  mkdirSync(work, { recursive: true });
  const archive = join(work, 'image.tar');
  const s = await sb.tsbuild(['save', '--format', 'oci', '-o', archive, `difftag-${tag}`]);
  if (s.code !== 0) throw new Error(`tsbuild save difftag-${tag}: ${s.stderr}`);
  return read(archive, work, tag.split(':')[1]!, b.stderr);
}

/** Build `p` with the reference BuildKit (`--load` into its daemon, then `docker save`). */
async function buildReference(p: { dir: string; df: string }, tag: string, extra: string[] = []): Promise<Result> {
  const name = `difftag-${tag}`;
  const b = await docker(ref, ['buildx', 'build', '--network', 'host', '--progress', 'plain', '--load', '-t', name, '-f', p.df, ...extra, p.dir]);
  if (b.code !== 0) return { ok: false, log: b.stderr };
  const work = join(sb.dir, 'out', `bk-${tag.replace(":", "-")}-${++n}`);
  mkdirSync(work, { recursive: true });
  const archive = join(work, 'image.tar');
  const s = await docker(ref, ['save', '-o', archive, name]);
  await docker(ref, ['rmi', name]);
  if (s.code !== 0) throw new Error(`docker save ${name}: ${s.stderr}`);
  return read(archive, work, tag.split(':')[1]!, b.stderr);
}

/** Both builders, one after the other (tsbuild first: its store is the one under test). */
async function both(p: { dir: string; df: string }, tag: string, extra: string[] = []): Promise<{ ts: Result; bk: Result }> {
  const ts = await buildTsbuild(p, tag, extra);
  const bk = await buildReference(p, tag, extra);
  return { ts, bk };
}

/** Both builds succeeded, read /seen = `which`, and were built on image `which`'s layers. */
function expectBoth(r: { ts: Result; bk: Result }, which: 'A' | 'B'): void {
  expect(r.bk.ok, `BuildKit failed:\n${r.bk.log}`).toBe(true);
  expect(r.ts.ok, `tsbuild failed:\n${r.ts.log}`).toBe(true);
  expect({ tsbuild: r.ts.seen, buildkit: r.bk.seen }, `tsbuild said: ${memoSaid(r.ts.log)}`).toEqual({ tsbuild: `${which}\n`, buildkit: `${which}\n` });
  expect({ tsbuild: r.ts.baseLayers, buildkit: r.bk.baseLayers }).toEqual({ tsbuild: images[which].diffIds, buildkit: images[which].diffIds });
}

beforeAll(async () => {
  ref = startReference();
  registry = await TestRegistry.start('open');
  maker.makeBaseImage();
  for (const which of ['A', 'B'] as const) {
    const dir = join(maker.dir, `make-${which}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'Dockerfile'), `FROM busybox\nRUN echo ${which} > /which\n`);
    const name = `${registry.domain}/difftag/src:${which}`;
    await maker.build(['-o', `type=registry,name=${name}`, dir]);
    const digest = JSON.parse(skopeo(['inspect', '--tls-verify=false', `docker://${name}`])).Digest as string;
    const diffIds = JSON.parse(skopeo(['inspect', '--config', '--tls-verify=false', `docker://${name}`])).rootfs.diff_ids as string[];
    images[which] = { name, digest, diffIds };
  }
  expect(images.A.digest).not.toBe(images.B.digest);
}, 300_000);

afterAll(async () => {
  await registry?.stop();
  stopReference(ref);
  maker.cleanup();
  sb.cleanup();
});

describe('a base image tag that changes between two builds: tsbuild and BuildKit v0.13 alike', () => {
  it('moved tag, no --pull, unchanged context: both build on the new image', async () => {
    pointTag('difftag/moved:v1', 'A');
    const p = await project(`${registry.domain}/difftag/moved:v1`);
    expectBoth(await both(p, 'moved:v1'), 'A');
    // An unchanged rebuild: tsbuild's rebuild memo answers it (the test of the check below needs one).
    const again = await both(p, 'moved:v1');
    expectBoth(again, 'A');
    expect(memoSaid(again.ts.log)).toBe('replayed');
    pointTag('difftag/moved:v1', 'B');
    const moved = await both(p, 'moved:v1');
    expectBoth(moved, 'B');
    expect(memoSaid(moved.ts.log)).toBe(`${registry.domain}/difftag/moved:v1 moved in its registry (now ${images.B.digest})`);
  }, 600_000);

  it('moved tag with --pull: both build on the new image', async () => {
    pointTag('difftag/pulled:v1', 'A');
    const p = await project(`${registry.domain}/difftag/pulled:v1`);
    expectBoth(await both(p, 'pulled:v1', ['--pull']), 'A');
    pointTag('difftag/pulled:v1', 'B');
    expectBoth(await both(p, 'pulled:v1', ['--pull']), 'B');
  }, 600_000);

  it('FROM repo:tag@digest: the tag moving changes nothing for either', async () => {
    pointTag('difftag/pinned:v1', 'A');
    // With the tag too: a builder that let the tag win over the digest would build on B.
    const p = await project(`${registry.domain}/difftag/pinned:v1@${images.A.digest}`);
    expectBoth(await both(p, 'pinned:v1'), 'A');
    pointTag('difftag/pinned:v1', 'B');
    expectBoth(await both(p, 'pinned:v1'), 'A');
  }, 600_000);

  // BuildKit resolves the tag, gets a 404 and fails; so does tsbuild (src/cli/resolve-image.ts: the registry's
  // 404 for the tag is an error, not "no answer"). Before, tsbuild built on the copy in its store without a warning.
  it('the tag deleted from its registry: both fail, with and without --pull', async () => {
    pointTag('difftag/gone:v1', 'A');
    const image = `${registry.domain}/difftag/gone:v1`;
    const p = await project(image);
    expectBoth(await both(p, 'gone:v1'), 'A');
    // Deleting the manifest by digest removes the tag (docker-registry deletes no tag by name).
    const res = await fetch(`http://${registry.domain}/v2/difftag/gone/manifests/${images.A.digest}`, { method: 'DELETE' });
    expect(res.status).toBe(202);
    const r = await both(p, 'gone:v1');
    expect({ tsbuild: r.ts.ok, buildkit: r.bk.ok }, `tsbuild:\n${r.ts.log}\nBuildKit:\n${r.bk.log}`).toEqual({ tsbuild: false, buildkit: false });
    expect(r.bk.log).toContain(`failed to resolve source metadata for ${image}: ${image}: not found`);
    expect(memoSaid(r.ts.log)).toBe(`${image}: the registry did not confirm the tag (the tag is not in the registry)`);
    expect(r.ts.log).toContain(`${image}: manifest not found in the registry (the tag is gone since the image was pulled; the copy in the local store is not used)`);
    const pulled = await both(p, 'gone:v1', ['--pull']);
    expect({ tsbuild: pulled.ts.ok, buildkit: pulled.bk.ok }, `tsbuild:\n${pulled.ts.log}\nBuildKit:\n${pulled.bk.log}`).toEqual({ tsbuild: false, buildkit: false });
    expect(pulled.bk.log).toContain(`${image}: not found`);
    expect(pulled.ts.log).toContain(`ERROR: image "${image}": ${image}: manifest not found in the registry`);
  }, 600_000);
});
