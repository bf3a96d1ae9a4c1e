/**
 * The escape suite: an untrusted Dockerfile, context, image layer or archive tries to reach a host
 * directory outside the store and the context (`<sandbox>/host`, holding a marker file) through
 * symlinks (absolute and `../` climbing) and `..` in every path-taking flag and instruction, and
 * through evil layers and archives (`../` entries, absolute symlinks then writes through them, hard
 * links out, whiteouts out). Each check passes when the marker was neither read (its content shows in
 * no build output nor exported file) nor written (the host dir is unchanged), whether the build
 * succeeded (stayed inside) or was refused. The tally (tried / escaped) is printed at the end.
 *
 * Evil cache sources (`--cache-from type=local`): a record whose layer holds the evil entries, applied under
 * a cached step that the next step runs on; a cache mount whose contents hold them; a record naming a blob
 * outside its manifest and an index naming a manifest outside the directory (refused with a warning).
 *
 * Also: `-o type=local` never creates device nodes and strips setuid/setgid unless keep-setuid=true.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { pack } from 'tar-stream';
import { suiteSandbox, type RunOutput } from './harness.js';

const sb = suiteSandbox();
const host = join(sb.dir, 'host');
/** Never written in a Dockerfile, so it shows in a build's output only if the marker was read. */
const MARK = ['HOST', 'MARKER', 'c0ffee'].join('-');
const climb = (p: string) => '../'.repeat(24) + p.replace(/^\//, '');
const tally = { tried: 0, refused: 0, escaped: [] as string[] };

const agent = createServer((c) => c.end());
const agentSock = join(sb.dir, 'agent.sock');

beforeAll(async () => {
  await new Promise<void>((res) => agent.listen(agentSock, () => res()));
  mkdirSync(join(host, 'sub'), { recursive: true });
  writeFileSync(join(host, 'marker'), MARK + '\n');
  writeFileSync(join(host, 'sub', 'inner'), MARK + ' inner\n');
});

afterAll(() => {
  agent.close();
  console.log(`escape checks: tried ${tally.tried} (build refused ${tally.refused}, built and stayed inside ${tally.tried - tally.refused}), escaped ${tally.escaped.length}${tally.escaped.length ? ': ' + tally.escaped.join(', ') : ''}`);
});

/** Every entry under `dir` with its type, mode, size and content digest. */
function snapshotTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = lstatSync(p);
      const r = rel + name;
      if (st.isDirectory()) {
        out.push(`${r}/ ${st.mode.toString(8)} ${st.uid}:${st.gid}`);
        walk(p, r + '/');
      } else if (st.isSymbolicLink()) out.push(`${r} -> ${readlinkSync(p)}`);
      else out.push(`${r} ${st.mode.toString(8)} ${st.uid}:${st.gid} ${st.size} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`);
    }
  };
  walk(dir, '');
  return out;
}

/** Files under `dir` whose content holds the marker. */
function filesWithMarker(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const found: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && readFileSync(p).includes(MARK)) found.push(p);
    }
  };
  walk(dir);
  return found;
}

let n = 0;
interface Case {
  dockerfile: string;
  files?: Record<string, string | Buffer>;
  /** Symlinks in the context: name → target. */
  links?: Record<string, string>;
  args?: (ctx: string) => string[];
  /** Where exported files land (searched for the marker). */
  outDir?: (ctx: string) => string;
}

/** Run one escape attempt; returns the build's output (it may have failed). */
async function attempt(name: string, c: Case): Promise<RunOutput> {
  const ctx = join(sb.dir, `esc-${++n}`);
  mkdirSync(ctx, { recursive: true });
  writeFileSync(join(ctx, 'Dockerfile'), c.dockerfile);
  for (const [f, data] of Object.entries(c.files ?? {})) {
    mkdirSync(join(ctx, f, '..'), { recursive: true });
    writeFileSync(join(ctx, f), data);
  }
  for (const [l, target] of Object.entries(c.links ?? {})) symlinkSync(target, join(ctx, l));
  const before = snapshotTree(host);
  const siblings = readdirSync(sb.dir).sort();
  const out = await sb.tsbuild(['build', '--progress', 'plain', ...(c.args?.(ctx) ?? []), ctx]);
  tally.tried++;
  if (out.code !== 0) tally.refused++;
  const read = (out.stdout + out.stderr).includes(MARK) || (c.outDir ? filesWithMarker(c.outDir(ctx)).length > 0 : false);
  const written = JSON.stringify(snapshotTree(host)) !== JSON.stringify(before);
  const strayed = readdirSync(sb.dir).filter((f) => !siblings.includes(f) && f !== `esc-${n}` && !f.startsWith('out-') && !f.startsWith('esc-'));
  if (read || written || strayed.length > 0) tally.escaped.push(name);
  expect({ read, written, strayed }, `${name}\n${out.stderr.slice(-3000)}`).toEqual({ read: false, written: false, strayed: [] });
  return out;
}

/** A RUN that reads and writes through `dir` (a mount or a path in the rootfs). */
const probe = (dir: string) => `cat ${dir}/marker ${dir}/sub/inner ${dir} 2>&1; echo pwned > ${dir}/pwned; mkdir ${dir}/pwned-dir; true`;

describe('RUN --mount sources and targets', () => {
  const bindCases: [string, Case][] = [
    ['bind source: absolute context symlink (rw)', { dockerfile: `FROM busybox\nRUN --mount=type=bind,source=l,target=/m,rw ${probe('/m')}\n`, links: { l: host } }],
    ['bind source: climbing context symlink (rw)', { dockerfile: `FROM busybox\nRUN --mount=type=bind,source=l,target=/m,rw ${probe('/m')}\n`, links: { l: climb(host) } }],
    ['bind source: context symlink to a host file', { dockerfile: `FROM busybox\nRUN --mount=type=bind,source=l,target=/m cat /m\n`, links: { l: join(host, 'marker') } }],
    ['bind source: symlinked parent dir in the context', { dockerfile: `FROM busybox\nRUN --mount=type=bind,source=l/sub,target=/m,rw ${probe('/m')}\n`, links: { l: host } }],
    ['bind source: literal ../ path', { dockerfile: `FROM busybox\nRUN --mount=type=bind,source=${climb(host)},target=/m,rw ${probe('/m')}\n` }],
    ['bind source: absolute host path', { dockerfile: `FROM busybox\nRUN --mount=type=bind,source=${host},target=/m,rw ${probe('/m')}\n` }],
    [
      'bind from=stage: absolute symlink in the stage',
      { dockerfile: `FROM busybox AS s\nRUN ln -s ${host} /l\nFROM busybox\nRUN --mount=type=bind,from=s,source=/l,target=/m,rw ${probe('/m')}\n` },
    ],
    [
      'bind from=stage: climbing symlink in the stage',
      { dockerfile: `FROM busybox AS s\nRUN ln -s ${climb(host)} /l\nFROM busybox\nRUN --mount=type=bind,from=s,source=/l,target=/m,rw ${probe('/m')}\n` },
    ],
    [
      'bind from=stage: literal ../ source',
      { dockerfile: `FROM busybox AS s\nRUN true\nFROM busybox\nRUN --mount=type=bind,from=s,source=${climb(host)},target=/m,rw ${probe('/m')}\n` },
    ],
    [
      'cache from=stage: absolute symlink source',
      { dockerfile: `FROM busybox AS s\nRUN ln -s ${host} /l\nFROM busybox\nRUN --mount=type=cache,id=esc-abs,from=s,source=/l,target=/c ${probe('/c')}\n` },
    ],
    [
      'cache from=stage: climbing symlink source',
      { dockerfile: `FROM busybox AS s\nRUN ln -s ${climb(host)} /l\nFROM busybox\nRUN --mount=type=cache,id=esc-climb,from=s,source=/l,target=/c ${probe('/c')}\n` },
    ],
    ['cache id with ../', { dockerfile: `FROM busybox\nRUN --mount=type=cache,id=${climb(host)},target=/c ${probe('/c')}\n` }],
    ['bind target through an absolute symlink in the rootfs', { dockerfile: `FROM busybox\nRUN ln -s ${host} /t\nRUN --mount=type=bind,source=f,target=/t/x cat /t/x\n`, files: { f: 'ctx' } }],
    ['tmpfs target through a climbing symlink in the rootfs', { dockerfile: `FROM busybox\nRUN ln -s ${climb(host)} /t\nRUN --mount=type=tmpfs,target=/t/newdir ls /t/newdir\n` }],
    ['cache target through an absolute symlink in the rootfs', { dockerfile: `FROM busybox\nRUN ln -s ${host} /t\nRUN --mount=type=cache,target=/t/c ls /t/c\n` }],
    [
      'secret target through an absolute symlink in the rootfs',
      {
        dockerfile: `FROM busybox\nRUN ln -s ${host} /t\nRUN --mount=type=secret,id=s,target=/t/s cat /t/s\n`,
        files: { 's.txt': 'secret' },
        args: (ctx) => ['--secret', `id=s,src=${join(ctx, 's.txt')}`],
      },
    ],
    [
      'secret target with ../',
      {
        dockerfile: `FROM busybox\nRUN --mount=type=secret,id=s,target=${climb(join(host, 's'))} true\n`,
        files: { 's.txt': 'secret' },
        args: (ctx) => ['--secret', `id=s,src=${join(ctx, 's.txt')}`],
      },
    ],
    [
      'ssh target through an absolute symlink in the rootfs',
      {
        dockerfile: `FROM busybox\nRUN ln -s ${host} /t\nRUN --mount=type=ssh,target=/t/agent.sock ls -l /t\n`,
        args: () => ['--ssh', `default=${agentSock}`],
      },
    ],
  ];
  it.each(bindCases)('%s', async (name, c) => {
    await attempt(name, c);
  });

  it('a context symlink bind source resolves inside the context, as BuildKit (not a refusal of every symlink)', async () => {
    const out = await attempt('bind source: in-context symlinks', {
      dockerfile: 'FROM busybox\nRUN --mount=type=bind,source=abs,target=/m cat /m/f\nRUN --mount=type=bind,source=rel,target=/m cat /m/f\n',
      files: { [`${host.slice(1)}/f`]: 'inside-the-context\n' },
      links: { abs: host, rel: `./${host.slice(1)}` },
    });
    expect(out.code).toBe(0);
    expect(out.stderr.match(/inside-the-context/g)?.length).toBe(2);
  });
});

describe('COPY, ADD, WORKDIR', () => {
  const cases: [string, Case][] = [
    ['COPY source: absolute context symlink', { dockerfile: 'FROM busybox\nCOPY l /x\nRUN cat /x/marker /x 2>&1; true\n', links: { l: host } }],
    ['COPY source: climbing context symlink', { dockerfile: 'FROM busybox\nCOPY l /x\nRUN cat /x/marker /x 2>&1; true\n', links: { l: climb(host) } }],
    ['COPY source: through a symlinked dir', { dockerfile: 'FROM busybox\nCOPY l/marker /x\nRUN cat /x 2>&1; true\n', links: { l: host } }],
    ['COPY source: literal ../ path', { dockerfile: `FROM busybox\nCOPY ${climb(join(host, 'marker'))} /x\nRUN cat /x 2>&1; true\n` }],
    ['COPY source: wildcard through a symlink', { dockerfile: 'FROM busybox\nCOPY l/* /x/\nRUN cat /x/* 2>&1; true\n', links: { l: host } }],
    ['COPY dest: through an absolute symlink in the rootfs', { dockerfile: `FROM busybox\nRUN ln -s ${host} /t\nCOPY f /t/pwned\nCOPY f /t/sub/\n`, files: { f: 'x' } }],
    ['COPY dest: through a climbing symlink in the rootfs', { dockerfile: `FROM busybox\nRUN ln -s ${climb(host)} /t\nCOPY f /t/pwned\n`, files: { f: 'x' } }],
    ['COPY dest: literal ../ path', { dockerfile: `FROM busybox\nCOPY f ${climb(join(host, 'pwned'))}\n`, files: { f: 'x' } }],
    ['COPY dest: over the marker through a symlink', { dockerfile: `FROM busybox\nRUN ln -s ${host}/marker /m\nCOPY f /m\n`, files: { f: 'x' } }],
    ['COPY --from: absolute symlink source in the stage', { dockerfile: `FROM busybox AS s\nRUN ln -s ${host} /l\nFROM busybox\nCOPY --from=s /l/marker /x\nRUN cat /x 2>&1; true\n` }],
    ['COPY --from: climbing symlink source in the stage', { dockerfile: `FROM busybox AS s\nRUN ln -s ${climb(host)} /l\nFROM busybox\nCOPY --from=s /l/ /x/\nRUN cat /x/marker 2>&1; true\n` }],
    ['COPY --from: symlink source followed (final component)', { dockerfile: `FROM busybox AS s\nRUN ln -s ${host}/marker /l\nFROM busybox\nCOPY --from=s /l /x\nRUN cat /x 2>&1; true\n` }],
    ['COPY --parents through a symlink', { dockerfile: 'FROM busybox\nCOPY --parents l/marker /x/\nRUN cat /x/l/marker 2>&1; true\n', links: { l: host } }],
    ['ADD local file through a symlink', { dockerfile: 'FROM busybox\nADD l /x\nRUN cat /x/marker /x 2>&1; true\n', links: { l: host } }],
    ['WORKDIR through an absolute symlink', { dockerfile: `FROM busybox\nRUN ln -s ${host} /w\nWORKDIR /w/newdir\nRUN touch made-here\n` }],
    ['WORKDIR through a climbing symlink', { dockerfile: `FROM busybox\nRUN ln -s ${climb(host)} /w\nWORKDIR /w/newdir/deeper\nRUN pwd\n` }],
    ['WORKDIR literal ../ path', { dockerfile: `FROM busybox\nWORKDIR ${climb(join(host, 'wd'))}\nRUN touch made-here\n` }],
  ];
  it.each(cases)('%s', async (name, c) => {
    await attempt(name, c);
  });
});

/** A tar of `entries` (in order). */
async function tarOf(entries: { name: string; type?: 'file' | 'directory' | 'symlink' | 'link'; linkname?: string; data?: string }[]): Promise<Buffer> {
  const p = pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<void>((res, rej) => {
    p.on('end', () => res());
    p.on('error', rej);
  });
  for (const e of entries) {
    const type = e.type ?? 'file';
    await new Promise<void>((res, rej) =>
      p.entry(
        { name: e.name, type, mode: type === 'directory' ? 0o755 : 0o644, mtime: new Date(1_700_000_000_000), ...(e.linkname ? { linkname: e.linkname } : {}) },
        type === 'file' ? (e.data ?? 'evil\n') : undefined,
        (err) => (err ? rej(err) : res()),
      ),
    );
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

const evilEntries: Record<string, Parameters<typeof tarOf>[0]> = {
  'entry with ../': [{ name: `${climb(host)}/pwned` }, { name: `a/${climb(host)}/pwned2` }],
  'absolute entry name': [{ name: `${host}/pwned` }],
  'absolute symlink, then a file through it': [
    { name: 'lnk', type: 'symlink', linkname: host },
    { name: 'lnk/pwned' },
    { name: 'lnk/sub/', type: 'directory' },
  ],
  'climbing symlink, then a file through it': [
    { name: 'lnk', type: 'symlink', linkname: climb(host) },
    { name: 'lnk/pwned' },
  ],
  'symlink to the marker, then a file over it': [
    { name: 'm', type: 'symlink', linkname: join(host, 'marker') },
    { name: 'm', data: 'overwritten\n' },
  ],
  'hard link out (climbing)': [{ name: 'hl', type: 'link', linkname: climb(join(host, 'marker')) }],
  'hard link out (absolute)': [{ name: 'hl', type: 'link', linkname: join(host, 'marker') }],
  'hard link through an absolute symlink': [
    { name: 'lnk', type: 'symlink', linkname: host },
    { name: 'hl', type: 'link', linkname: 'lnk/marker' },
  ],
  'whiteout with ../': [{ name: `${climb(host)}/.wh.marker` }],
  'whiteout through an absolute symlink': [
    { name: 'lnk', type: 'symlink', linkname: host },
    { name: 'lnk/.wh.marker' },
  ],
  'opaque whiteout through an absolute symlink': [
    { name: 'lnk', type: 'symlink', linkname: host },
    { name: 'lnk/.wh..wh..opq' },
  ],
};

describe('ADD archives from the context', () => {
  it.each(Object.entries(evilEntries))('archive: %s', async (name, entries) => {
    const tar = await tarOf(entries);
    await attempt(`ADD archive: ${name}`, {
      dockerfile: 'FROM busybox\nADD evil.tar /x/\nRUN cat /x/hl /x/m /x/lnk/marker 2>&1; echo pwned > /x/lnk/pwned-run; true\n',
      files: { 'evil.tar': tar },
    });
  });
});

/** An OCI archive of an image made of `layers` (uncompressed), for `tsbuild load`. */
function ociArchive(dir: string, layers: Buffer[]): Promise<Buffer> {
  const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
  const blobs: Buffer[] = [...layers];
  const config = Buffer.from(
    JSON.stringify({ architecture: process.arch === 'arm64' ? 'arm64' : 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: layers.map((l) => `sha256:${sha(l)}`) } }),
  );
  blobs.push(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${sha(config)}`, size: config.length },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${sha(l)}`, size: l.length })),
    }),
  );
  blobs.push(manifest);
  const index = { schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${sha(manifest)}`, size: manifest.length }] };
  void dir;
  return (async () => {
    const p = pack();
    const chunks: Buffer[] = [];
    p.on('data', (c: Buffer) => chunks.push(c));
    const done = new Promise<void>((res) => p.on('end', () => res()));
    const add = (name: string, data: Buffer | string) => new Promise<void>((res, rej) => p.entry({ name, mode: 0o644 }, data, (err) => (err ? rej(err) : res())));
    await add('oci-layout', JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    await add('index.json', JSON.stringify(index));
    for (const b of blobs) await add(`blobs/sha256/${sha(b)}`, b);
    p.finalize();
    await done;
    return Buffer.concat(chunks);
  })();
}

describe('evil image layers (tsbuild load, then FROM)', () => {
  it.each(Object.entries(evilEntries))('layer: %s', async (name, entries) => {
    const tag = `evil-${createHash('sha256').update(name).digest('hex').slice(0, 8)}`;
    const archive = join(sb.dir, `${tag}.tar`);
    // The symlink in one layer, the write through it in the next, as well as both in one layer.
    const layers = [await tarOf(entries)];
    if (entries.length > 1) layers.push(await tarOf(entries.slice(0, 1)), await tarOf(entries.slice(1)));
    writeFileSync(archive, await ociArchive(sb.dir, layers));
    const loaded = await sb.tsbuild(['load', '-i', archive, '-t', tag]);
    expect(loaded.code, loaded.stderr).toBe(0);
    const outDir = join(sb.dir, `out-${tag}`);
    await attempt(`layer: ${name}`, {
      dockerfile: `FROM ${tag} AS e\nFROM busybox\nCOPY --from=e / /e/\nRUN cat /e/hl /e/m /e/lnk/marker 2>&1; echo pwned > /e/lnk/pwned-run; true\n`,
      args: () => ['-o', `type=local,dest=${outDir}`],
      outDir: () => outDir,
    });
    // Exporting the evil image itself: its symlinks are written as symlinks, never through.
    await attempt(`layer export: ${name}`, {
      dockerfile: `FROM ${tag}\n`,
      args: () => ['-o', `type=local,dest=${outDir}-2`],
    });
  });
});

describe('evil cache sources (--cache-from type=local)', () => {
  const shaHex = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
  const cached = 'FROM busybox\nRUN echo cached > /cached.txt\n';
  let good = '';

  beforeAll(async () => {
    const ctx = join(sb.dir, 'cache-good-ctx');
    mkdirSync(ctx, { recursive: true });
    writeFileSync(join(ctx, 'Dockerfile'), cached);
    good = join(sb.dir, 'cache-good');
    const out = await sb.tsbuild(['build', '--progress', 'plain', '--cache-to', `type=local,dest=${good},mode=max`, ctx]);
    expect(out.code, out.stderr).toBe(0);
  }, 120_000);

  /**
   * A copy of the good cache as a forger makes it, digests consistent: `layer` (an uncompressed tar) replaces
   * the RUN step's layer, or with `mount` becomes the contents of cache mount `mount`; `edit` changes the rest.
   */
  function forge(name: string, layer: Buffer, opts: { mount?: string; edit?: (index: any, manifest: any, config: any) => void } = {}): string {
    const dir = join(sb.dir, `cache-evil-${++n}`);
    execFileSync('cp', ['-a', good, dir]);
    const blobs = join(dir, 'blobs/sha256');
    const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8'));
    const manifest = JSON.parse(readFileSync(join(blobs, index.manifests[0].digest.slice(7)), 'utf8'));
    const config = JSON.parse(readFileSync(join(blobs, manifest.config.digest.slice(7)), 'utf8'));
    writeFileSync(join(blobs, shaHex(layer)), layer);
    const at = manifest.layers.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${shaHex(layer)}`, size: layer.length }) - 1;
    if (opts.mount) config.mounts = [{ id: opts.mount, layer: at, diffID: `sha256:${shaHex(layer)}`, mode: 0o755, uid: 0, gid: 0 }];
    else {
      const rec = config.records.find((r: { name: string }) => r.name.includes('echo cached'));
      expect(rec, name).toBeDefined();
      Object.assign(rec, { layer: at, diffID: `sha256:${shaHex(layer)}` });
    }
    opts.edit?.(index, manifest, config);
    const cb = Buffer.from(JSON.stringify(config));
    writeFileSync(join(blobs, shaHex(cb)), cb);
    manifest.config = { ...manifest.config, digest: `sha256:${shaHex(cb)}`, size: cb.length };
    const mb = Buffer.from(JSON.stringify(manifest));
    writeFileSync(join(blobs, shaHex(mb)), mb);
    if (!index.manifests[0].digest.includes('..')) index.manifests[0] = { ...index.manifests[0], digest: `sha256:${shaHex(mb)}`, size: mb.length };
    writeFileSync(join(dir, 'index.json'), JSON.stringify(index));
    return dir;
  }

  /** The store forgets every record and cache mount, so the next build asks the cache source. */
  async function forget(): Promise<void> {
    const out = await sb.tsbuild(['prune', '--all']);
    expect(out.code, out.stderr).toBe(0);
  }

  it.each(Object.entries(evilEntries))('cache record layer: %s', async (name, entries) => {
    const dir = forge(name, await tarOf(entries));
    await forget();
    const outDir = join(sb.dir, `out-cache-${n}`);
    const out = await attempt(`cache layer: ${name}`, {
      dockerfile: cached + 'RUN cat /hl /m /lnk/marker 2>&1; echo pwned > /lnk/pwned-run; true\n',
      args: () => ['--explain', '--cache-from', `type=local,src=${dir}`, '-o', `type=local,dest=${outDir}`],
      outDir: () => outDir,
    });
    // The source was used: the step hit there (and the evil layer was applied under the next step), or its
    // layer was refused while being applied and the step ran instead.
    expect(out.stdout + out.stderr, name).toMatch(new RegExp(`from cache source ${dir}|running the step instead`));
  });

  it.each(Object.entries(evilEntries))('cache mount contents: %s', async (name, entries) => {
    const id = `evil-${n + 1}`;
    const dir = forge(name, await tarOf(entries), { mount: id });
    await forget();
    const out = await attempt(`cache mount: ${name}`, {
      dockerfile: `FROM busybox\nRUN --mount=type=cache,id=${id},target=/m cat /m/hl /m/m /m/lnk/marker 2>&1; echo pwned > /m/lnk/pwned-run; true\n`,
      args: () => ['--cache-from', `type=local,src=${dir}`],
    });
    expect(out.stdout + out.stderr, name).toMatch(new RegExp(`restoring cache mount ${id}|cache mount ${id}: .*starting it empty`));
  });

  it('a record naming a blob outside its manifest, an index naming a manifest outside the directory: refused, the build goes on', async () => {
    const layer = await tarOf([{ name: 'ok', data: 'fine\n' }]);
    const cases: [string, string, RegExp][] = [
      ['blob outside the manifest', forge('outside', layer, { edit: (_i, m, c) => void (c.records[0].layer = m.layers.length + 5) }), /names a blob outside its manifest/],
      ['manifest outside the directory', forge('escape', layer, { edit: (i) => void (i.manifests[0].digest = `sha256:${climb(join(host, 'marker'))}`) }), /invalid digest/],
    ];
    for (const [what, dir, warning] of cases) {
      await forget();
      const out = await attempt(`cache source: ${what}`, { dockerfile: cached, args: () => ['--cache-from', `type=local,src=${dir}`] });
      expect(out.code, what).toBe(0);
      expect(out.stderr, what).toMatch(/WARNING: --cache-from .*building without this cache source/);
      expect(out.stderr, what).toMatch(warning);
    }
  }, 120_000);
});

describe('outputs', () => {
  it('-o type=local into a dir whose entries are symlinks out: replaced, never written through', async () => {
    const outDir = join(sb.dir, 'out-pre');
    mkdirSync(outDir);
    symlinkSync(host, join(outDir, 'etc'));
    symlinkSync(host, join(outDir, 'x'));
    await attempt('local export over symlinks', {
      dockerfile: 'FROM busybox\nRUN mkdir -p /x && echo pwned > /x/pwned && echo pwned > /etc/pwned\n',
      args: () => ['-o', `type=local,dest=${outDir}`],
    });
    expect(lstatSync(join(outDir, 'x')).isDirectory()).toBe(true);
  });

  it('-o type=local and type=tar of a rootfs with symlinks out keep them as symlinks', async () => {
    const outDir = join(sb.dir, 'out-links');
    const tarFile = join(sb.dir, 'out-links.tar');
    await attempt('local/tar export of symlinks out', {
      dockerfile: `FROM busybox\nRUN ln -s ${host} /abs && ln -s ${climb(host)} /climb && ln -s ${host}/marker /file\n`,
      args: () => ['-o', `type=local,dest=${outDir}`, '-o', `type=tar,dest=${tarFile}`],
      outDir: () => outDir,
    });
    expect(readlinkSync(join(outDir, 'abs'))).toBe(host);
    expect(readFileSync(tarFile).includes(MARK)).toBe(false);
  });

  it('-o type=local creates no device node and strips setuid/setgid; keep-setuid=true keeps the bits, never devices', async () => {
    const ctx = join(sb.dir, 'devices');
    mkdirSync(ctx);
    writeFileSync(
      join(ctx, 'Dockerfile'),
      'FROM busybox\nRUN mkdir /d && mknod /d/mem c 1 1 && chmod 666 /d/mem && mknod /blk b 7 0 && cp /bin/busybox /suid && chmod 4755 /suid && cp /bin/busybox /sgid && chmod 2755 /sgid && mkfifo /fifo && echo kept > /d/file\n',
    );
    const plain = join(sb.dir, 'out-dev');
    const out = await sb.build(['-o', `type=local,dest=${plain}`, ctx]);
    const devices = execFileSync('find', [plain, '(', '-type', 'b', '-o', '-type', 'c', ')']).toString().trim();
    expect(devices).toBe('');
    expect(readFileSync(join(plain, 'd/file'), 'utf8')).toBe('kept\n');
    expect(lstatSync(join(plain, 'suid')).mode & 0o7777).toBe(0o755);
    expect(lstatSync(join(plain, 'sgid')).mode & 0o7777).toBe(0o755);
    expect(lstatSync(join(plain, 'fifo')).isFIFO()).toBe(true);
    expect(out.stderr).toMatch(/2 device nodes not exported/);
    expect(out.stderr).toMatch(/keep-setuid=true/);
    // The temp dir it went through is gone.
    expect(readdirSync(sb.dir).filter((f) => f.startsWith('.out-dev.tmp-'))).toEqual([]);

    const kept = join(sb.dir, 'out-dev-keep');
    await sb.build(['-o', `type=local,dest=${kept},keep-setuid=true`, ctx]);
    expect(lstatSync(join(kept, 'suid')).mode & 0o7777).toBe(0o4755);
    expect(lstatSync(join(kept, 'sgid')).mode & 0o7777).toBe(0o2755);
    expect(execFileSync('find', [kept, '(', '-type', 'b', '-o', '-type', 'c', ')']).toString().trim()).toBe('');

    const bad = await sb.tsbuild(['build', '-o', `type=tar,dest=${join(sb.dir, 'x.tar')},keep-setuid=true`, ctx]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/type=tar has no attribute "keep-setuid"/);
  });
});
