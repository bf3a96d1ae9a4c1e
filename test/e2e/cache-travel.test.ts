/**
 * The cache that travels, through a directory (`--cache-to type=local` / `--cache-from type=local`), between
 * two real stores ("machine A" and "machine B", the same base image, the context checked out at another
 * path): every step hits on B and the image digest is identical; mode=min vs mode=max; two exports into one
 * directory; a changed file reruns only the steps after it; a corrupt, truncated or unknown-version source
 * is a warning and a normal build; a failed export fails the build after the image is written (or is a
 * warning with ignore-error=true); bad specs are usage errors. Registries: test/registry/cache-travel.test.ts.
 */
import { describe, expect, it, beforeAll } from 'vitest';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Sandbox, fixtures, freshMachines, skopeoInspect, suiteSandbox } from './harness.js';
import { parseSteps } from './cache-steps.js';

const a = suiteSandbox();
/** Fresh stores with A's base image (the same digest, as a registry would give it); the fixture at new paths. */
const stores = freshMachines(a);
const machine = () => stores.machine();
const checkout = (sb: Sandbox) => stores.checkout(sb, 'e2e/cache-travel', 'src');
let n = 0;

const imageDigest = (out: string) => /writing image (sha256:[0-9a-f]{64})/.exec(out)?.[1];
const steps = (out: string) => [...parseSteps(out)].filter(([name]) => !/^(exporting|importing|FROM )/.test(name));
const ran = (out: string) => steps(out).filter(([, s]) => !s.cached).map(([name]) => name);

function cacheConfig(dir: string): { version: number; records: { key: string; name: string }[] } {
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8'));
  const manifest = JSON.parse(readFileSync(join(dir, 'blobs/sha256', index.manifests[0].digest.slice(7)), 'utf8'));
  return JSON.parse(readFileSync(join(dir, 'blobs/sha256', manifest.config.digest.slice(7)), 'utf8'));
}

const sha = (b: Buffer | string) => 'sha256:' + createHash('sha256').update(b).digest('hex');

/** Rewrite a cache dir's config (and the manifest and index that name it) as a forger would, digests consistent. */
function forgeConfig(dir: string, edit: (c: Record<string, unknown>) => void): void {
  const blobs = join(dir, 'blobs/sha256');
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8'));
  const manifest = JSON.parse(readFileSync(join(blobs, index.manifests[0].digest.slice(7)), 'utf8'));
  const config = JSON.parse(readFileSync(join(blobs, manifest.config.digest.slice(7)), 'utf8'));
  edit(config);
  const cb = Buffer.from(JSON.stringify(config));
  writeFileSync(join(blobs, sha(cb).slice(7)), cb);
  manifest.config = { ...manifest.config, digest: sha(cb), size: cb.length };
  const mb = Buffer.from(JSON.stringify(manifest));
  writeFileSync(join(blobs, sha(mb).slice(7)), mb);
  index.manifests[0] = { ...index.manifests[0], digest: sha(mb), size: mb.length };
  writeFileSync(join(dir, 'index.json'), JSON.stringify(index));
}

describe('cache export/import through a directory', () => {
  let maxDir = '';
  let minDir = '';
  let digestA = '';

  beforeAll(async () => {
    maxDir = join(a.dir, 'cache-max');
    minDir = join(a.dir, 'cache-min');
    const out = await a.build(['-t', 'app:a', '--cache-to', `type=local,dest=${maxDir},mode=max`, '--cache-to', `type=local,dest=${minDir}`, checkout(a)]);
    digestA = imageDigest(out.stderr)!;
    expect(digestA).toBeDefined();
  }, 120_000);

  it('writes a versioned OCI layout: mode=max has every step of every stage, mode=min the final image\'s steps', () => {
    for (const d of [maxDir, minDir]) {
      expect(JSON.parse(readFileSync(join(d, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
      const index = JSON.parse(readFileSync(join(d, 'index.json'), 'utf8'));
      expect(index.manifests[0].artifactType).toBe('application/vnd.tsbuild.cache.v1');
      const manifest = JSON.parse(readFileSync(join(d, 'blobs/sha256', index.manifests[0].digest.slice(7)), 'utf8'));
      expect(manifest.config.mediaType).toBe('application/vnd.tsbuild.cache.config.v1+json');
      // Every blob the layout holds is the manifest, its config or one of its layers.
      const named = new Set([index.manifests[0].digest, manifest.config.digest, ...manifest.layers.map((l: { digest: string }) => l.digest)].map((x: string) => x.slice(7)));
      expect(new Set(readdirSync(join(d, 'blobs/sha256')))).toEqual(named);
    }
    const max = cacheConfig(maxDir);
    const min = cacheConfig(minDir);
    expect(max.version).toBe(1);
    expect(max.records.map((r) => r.name).sort()).toEqual(
      [
        '[build 2/6] WORKDIR /src',
        '[build 3/6] COPY app.txt ./',
        '[build 4/6] RUN tr a-z A-Z < app.txt > /out.txt',
        '[build 5/6] COPY lib.txt ./',
        '[build 6/6] RUN cat lib.txt >> /out.txt',
        '[tools 2/2] RUN echo tool > /tool.txt',
        '[2/4] COPY --from=build /out.txt /artifact.txt',
        '[3/4] COPY --from=tools /tool.txt /tool.txt',
        '[4/4] RUN cat /artifact.txt /tool.txt > /all.txt',
      ].sort(),
    );
    expect(min.records.map((r) => r.name).sort()).toEqual(
      ['[2/4] COPY --from=build /out.txt /artifact.txt', '[3/4] COPY --from=tools /tool.txt /tool.txt', '[4/4] RUN cat /artifact.txt /tool.txt > /all.txt'].sort(),
    );
  });

  it('two machines: an empty store with --cache-from hits every step, starts no process, and makes the identical image', async () => {
    const b = await machine();
    const out = await b.build(['-t', 'app:b', '--explain', '--cache-from', `type=local,src=${maxDir}`, checkout(b)]);
    expect(ran(out.stderr)).toEqual([]);
    expect(steps(out.stderr).length).toBe(9);
    // The same image: A keeps the layers it built uncompressed in its store and B the gzip ones the cache
    // carried, so the image ID (config) is compared here, and what leaves the store below.
    const idOf = async (m: typeof a, name: string) => JSON.parse((await m.tsbuild(['inspect', name])).stdout)[0].Id as string;
    expect(imageDigest(out.stderr)).toBeDefined();
    expect(await idOf(b, 'app:b')).toBe(await idOf(a, 'app:a'));
    expect(b.runcRuns()).toBe(0);
    const exported = async (m: typeof a, name: string) => {
      const dest = join(m.dir, `${name}.oci.tar`);
      const o = await m.build(['-o', `type=oci,dest=${dest}`, '--cache-from', `type=local,src=${maxDir}`, checkout(m)]);
      expect(ran(o.stderr)).toEqual([]);
      return skopeoInspect(dest).Digest;
    };
    expect(await exported(b, 'b')).toBe(await exported(a, 'a'));
    expect(out.stderr).toContain(`from cache source ${maxDir}`);
    // The restored steps are now local records: the next build hits without the source.
    const again = await b.build(['-t', 'app:b', checkout(b)], { env: { TSBUILD_NO_MEMO: '1' } });
    expect(ran(again.stderr)).toEqual([]);
    expect((await b.tsbuild(['doctor'])).stdout).toMatch(/store OK/);
    // Restored records are local records: du counts them (and prune may remove them).
    const du = JSON.parse((await b.tsbuild(['du', '--json'])).stdout) as { records: { step: string | null }[] };
    expect(du.records.map((r) => r.step)).toEqual(expect.arrayContaining(['[4/4] RUN cat /artifact.txt /tool.txt > /all.txt', '[2/4] COPY --from=build /out.txt /artifact.txt']));
  }, 120_000);

  it('a changed file on B reruns only the steps after it (max); with min the whole stage runs', async () => {
    const b = await machine();
    const ctx = checkout(b);
    writeFileSync(join(ctx, 'lib.txt'), 'lib v2\n');
    const out = await b.build(['--explain', '--cache-from', `type=local,src=${maxDir}`, ctx]);
    expect(ran(out.stderr).sort()).toEqual(['COPY lib.txt ./', 'RUN cat lib.txt >> /out.txt', 'COPY --from=build /out.txt /artifact.txt', 'COPY --from=tools /tool.txt /tool.txt', 'RUN cat /artifact.txt /tool.txt > /all.txt'].sort());
    // --explain says why each step missed in the source: the same step is there with other inputs.
    expect(out.stderr).toMatch(new RegExp(`RAN +\\[build \\d/\\d\\] COPY lib.txt ./[^\\n]*\\n[^\\n]*key[^\\n]*\\n(?:[^\\n]*miss:[^\\n]*\\n)*[^\\n]*miss: cache source ${maxDir} has this step with other inputs`));
    expect(out.stderr).toMatch(/RAN +\[build \d\/\d\] COPY lib.txt[\s\S]*CACHED +\[tools 2\/2\] RUN echo tool[^\n]*\n[^\n]*from cache source/);

    const c = await machine();
    const ctx2 = checkout(c);
    writeFileSync(join(ctx2, 'lib.txt'), 'lib v2\n');
    const out2 = await c.build(['--explain', '--cache-from', `type=local,src=${minDir}`, ctx2]);
    expect(out2.stderr).toMatch(new RegExp(`RAN +\\[tools 2/2\\] RUN echo tool > /tool.txt[^\\n]*\\n[^\\n]*key[^\\n]*\\n(?:[^\\n]*miss:[^\\n]*\\n)*[^\\n]*miss: not in cache source ${minDir}`));
    expect(ran(out2.stderr)).toContain('WORKDIR /src');
    expect(ran(out2.stderr)).toContain('RUN tr a-z A-Z < app.txt > /out.txt');
    expect(ran(out2.stderr)).toContain('RUN echo tool > /tool.txt');
  }, 180_000);

  it('exporting twice into one directory keeps it valid and removes the blobs no longer named', async () => {
    const dir = join(a.dir, 'cache-twice');
    const ctx = checkout(a);
    await a.build(['--cache-to', `type=local,dest=${dir},mode=max`, ctx]);
    const first = new Set(readdirSync(join(dir, 'blobs/sha256')));
    writeFileSync(join(ctx, 'app.txt'), 'changed app\n');
    await a.build(['--cache-to', `type=local,dest=${dir},mode=max`, ctx]);
    const second = new Set(readdirSync(join(dir, 'blobs/sha256')));
    const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8'));
    const manifest = JSON.parse(readFileSync(join(dir, 'blobs/sha256', index.manifests[0].digest.slice(7)), 'utf8'));
    const named = new Set([index.manifests[0].digest, manifest.config.digest, ...manifest.layers.map((l: { digest: string }) => l.digest)].map((x: string) => x.slice(7)));
    expect(second).toEqual(named);
    expect([...first].some((f) => !second.has(f))).toBe(true); // the old RUN tr layer (and others) went
    // B with the same change hits everything from the second export.
    const b = await machine();
    const ctxB = checkout(b);
    writeFileSync(join(ctxB, 'app.txt'), 'changed app\n');
    const out = await b.build(['--cache-from', `type=local,src=${dir}`, ctxB]);
    expect(ran(out.stderr)).toEqual([]);
  }, 180_000);

  it('untrusted sources: a wrong-digest blob, a truncated manifest, an unknown version, a record naming a blob outside the manifest: a warning and a normal build', async () => {
    const cases: [string, (d: string) => void, RegExp][] = [
      [
        'corrupt layer',
        (d) => {
          const index = JSON.parse(readFileSync(join(d, 'index.json'), 'utf8'));
          const manifest = JSON.parse(readFileSync(join(d, 'blobs/sha256', index.manifests[0].digest.slice(7)), 'utf8'));
          for (const l of manifest.layers as { digest: string }[]) {
            const p = join(d, 'blobs/sha256', l.digest.slice(7));
            const bytes = readFileSync(p);
            bytes[bytes.length >> 1] ^= 0xff;
            writeFileSync(p, bytes);
          }
        },
        /digest|running the step instead/i,
      ],
      [
        'truncated manifest',
        (d) => {
          const index = JSON.parse(readFileSync(join(d, 'index.json'), 'utf8'));
          const p = join(d, 'blobs/sha256', index.manifests[0].digest.slice(7));
          writeFileSync(p, readFileSync(p).subarray(0, 40));
        },
        /building without this cache source/,
      ],
      ['unknown version', (d) => forgeConfig(d, (c) => void (c.version = 99)), /unknown cache format version 99/],
      ['blob outside the manifest', (d) => forgeConfig(d, (c) => void ((c.records as { layer: number }[])[0]!.layer = 1000)), /names a blob outside its manifest/],
      ['truncated index', (d) => writeFileSync(join(d, 'index.json'), '{"schemaVersion":2,"manif'), /index.json is not JSON/],
      [
        'oversized manifest',
        (d) => {
          const index = JSON.parse(readFileSync(join(d, 'index.json'), 'utf8'));
          const m = Buffer.concat([readFileSync(join(d, 'blobs/sha256', index.manifests[0].digest.slice(7))), Buffer.alloc(5 << 20, 32)]);
          writeFileSync(join(d, 'blobs/sha256', sha(m).slice(7)), m);
          index.manifests[0] = { ...index.manifests[0], digest: sha(m), size: m.length };
          writeFileSync(join(d, 'index.json'), JSON.stringify(index));
        },
        /too large/,
      ],
      [
        // Layer blobs that never end (/dev/zero): each read stops past the descriptor's size.
        'endless layers',
        (d) => {
          const index = JSON.parse(readFileSync(join(d, 'index.json'), 'utf8'));
          const manifest = JSON.parse(readFileSync(join(d, 'blobs/sha256', index.manifests[0].digest.slice(7)), 'utf8'));
          for (const l of manifest.layers as { digest: string }[]) {
            const p = join(d, 'blobs/sha256', l.digest.slice(7));
            rmSync(p);
            symlinkSync('/dev/zero', p);
          }
        },
        /more than the expected \d+ bytes[^\n]*running the step instead/,
      ],
    ];
    for (const [what, spoil, warning] of cases) {
      const dir = join(a.dir, `spoiled-${what.replace(/ /g, '-')}`);
      cpSync(maxDir, dir, { recursive: true });
      spoil(dir);
      const b = await machine();
      const out = await b.tsbuild(['build', '--progress', 'plain', '-t', 'app:b', '--cache-from', `type=local,src=${dir}`, checkout(b)]);
      expect(out.code, `${what}: ${out.stderr}`).toBe(0);
      expect(out.stderr, what).toMatch(/WARNING: .*/);
      expect(out.stderr, what).toMatch(warning);
      // The result is the image A made (the same content; the layers differ only in their created times).
      const files = await b.tsbuild(['build', '--progress', 'plain', '-o', `type=local,dest=${join(b.dir, 'out')}`, checkout(b)]);
      expect(files.code).toBe(0);
      expect(readFileSync(join(b.dir, 'out/all.txt'), 'utf8'), what).toBe('HELLO APP\nlib v1\ntool\n');
      expect((await b.tsbuild(['doctor'])).stdout, what).toMatch(/store OK/);
    }
  }, 400_000);

  it('a failed export fails the build after the image is written, saying so; ignore-error=true makes it a warning', async () => {
    const blocker = join(a.dir, 'not-a-dir');
    writeFileSync(blocker, 'x');
    const ctx = checkout(a);
    const out = await a.tsbuild(['build', '--progress', 'plain', '-t', 'app:failed-export', '--cache-to', `type=local,dest=${blocker}/cache`, ctx]);
    expect(out.code).not.toBe(0);
    expect(out.stderr).toMatch(/cache export to .*not-a-dir\/cache failed: .*\(the image was written\)/);
    expect((await a.tsbuild(['images'])).stdout).toMatch(/app\s+failed-export/);
    const ok = await a.tsbuild(['build', '--progress', 'plain', '--cache-to', `type=local,dest=${blocker}/cache,ignore-error=true`, ctx]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toMatch(/WARNING: cache export to .* failed: .*ignore-error=true/);
  }, 120_000);

  it('compression=zstd / uncompressed: the cache\'s layers are recompressed (same diffIDs), and B still hits every step', async () => {
    for (const [compression, mediaType] of [['zstd', 'application/vnd.oci.image.layer.v1.tar+zstd'], ['uncompressed', 'application/vnd.oci.image.layer.v1.tar']]) {
      const dir = join(a.dir, `cache-${compression}`);
      const out = await a.build(['--cache-to', `type=local,dest=${dir},mode=max,compression=${compression}`, checkout(a)]);
      expect(out.stderr).toMatch(/exported 9 cache records/);
      const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8'));
      const manifest = JSON.parse(readFileSync(join(dir, 'blobs/sha256', index.manifests[0].digest.slice(7)), 'utf8'));
      expect(manifest.layers.map((l: { mediaType: string }) => l.mediaType), compression).toEqual(manifest.layers.map(() => mediaType));
      const b = await machine();
      const got = await b.build(['--cache-from', `type=local,src=${dir}`, '-o', `type=local,dest=${join(b.dir, `out-${compression}`)}`, checkout(b)]);
      expect(ran(got.stderr), compression).toEqual([]);
      expect(readFileSync(join(b.dir, `out-${compression}`, 'all.txt'), 'utf8')).toBe('HELLO APP\nlib v1\ntool\n');
    }
  }, 240_000);

  it('bad --cache-to / --cache-from specs are usage errors', async () => {
    for (const spec of [['--cache-to', 'type=gha'], ['--cache-to', 'type=local'], ['--cache-to', 'type=local,dest=x,mode=all'], ['--cache-from', 'type=local,dest=x'], ['--cache-to', 'type=registry,ref=r,bogus=1']]) {
      const out = await a.tsbuild(['build', ...spec, checkout(a)]);
      expect(out.code, spec.join(' ')).toBe(2);
      expect(out.stderr).toMatch(new RegExp(`invalid ${spec[0]}`));
    }
    expect(existsSync(join(a.dir, 'x'))).toBe(false);
  }, 60_000);
});

describe('cache mounts travel (cache-mounts=true)', () => {
  it('a RUN --mount=type=cache directory\'s contents arrive on B before the step that uses it, even when that step misses', async () => {
    const project = (sb: Sandbox, version: string) => {
      const dir = join(sb.dir, `mounts-${++n}`);
      cpSync(join(fixtures, 'e2e/cache-travel'), dir, { recursive: true });
      writeFileSync(
        join(dir, 'Dockerfile'),
        `FROM busybox\nCOPY app.txt /app.txt\nRUN --mount=type=cache,id=pkgs,target=/var/cache/pkgs sh -c 'echo "fetched ${version}" >> /var/cache/pkgs/log && cp /var/cache/pkgs/log /seen.txt'\n`,
      );
      return dir;
    };
    const dir = join(a.dir, 'cache-mounts');
    await a.build(['--cache-to', `type=local,dest=${dir},mode=max,cache-mounts=true`, project(a, 'v1')]);
    const config = cacheConfig(dir) as ReturnType<typeof cacheConfig> & { mounts?: { id: string }[] };
    expect(config.mounts?.map((m) => m.id)).toEqual(['pkgs']);
    // B changes the step (so it misses and runs): it finds A's package cache in the mount.
    const b = await machine();
    const out = await b.build(['--cache-from', `type=local,src=${dir}`, '-o', `type=local,dest=${join(b.dir, 'seen')}`, project(b, 'v2')]);
    expect(out.stderr).toMatch(/restoring cache mount pkgs/);
    expect(readFileSync(join(b.dir, 'seen/seen.txt'), 'utf8')).toBe('fetched v1\nfetched v2\n');
    // Without cache-mounts=true nothing of the mount is exported, and a fresh store starts it empty.
    const plain = join(a.dir, 'cache-no-mounts');
    await a.build(['--cache-to', `type=local,dest=${plain},mode=max`, project(a, 'v1')]);
    expect((cacheConfig(plain) as { mounts?: unknown }).mounts).toBeUndefined();
    const c = await machine();
    await c.build(['--cache-from', `type=local,src=${plain}`, '-o', `type=local,dest=${join(c.dir, 'seen')}`, project(c, 'v3')]);
    expect(readFileSync(join(c.dir, 'seen/seen.txt'), 'utf8')).toBe('fetched v3\n');
  }, 180_000);
});
