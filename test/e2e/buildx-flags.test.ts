/**
 * `docker buildx build` flags through the real CLI, one row each, checking what the flag DOES (the file a
 * RUN step wrote, the manifest, stdout, the exit code and message), not only that it parses.
 */
import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suiteSandbox, repo, type RunOutput } from './harness.js';

const sb = suiteSandbox();
let n = 0;

/** A fresh context holding `dockerfile` (unique per row, so no row hits another's cache). */
function context(dockerfile: string, files: Record<string, string> = {}): string {
  const dir = join(sb.dir, `flags-${++n}`);
  mkdirSync(dir);
  writeFileSync(join(dir, 'Dockerfile'), `FROM busybox:latest\nRUN echo row-${n} > /row\n${dockerfile}\n`);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

/** Build and read the files the build wrote back through -o type=local. */
async function buildFiles(dockerfile: string, flags: string[], opts: { env?: Record<string, string>; cwd?: string } = {}): Promise<{ out: RunOutput; file: (p: string) => string }> {
  const ctx = context(dockerfile);
  const dest = join(sb.dir, `out-${n}`);
  const out = await sb.tsbuild(['build', '--progress', 'plain', ...flags, '-o', `type=local,dest=${dest}`, ctx], opts);
  if (out.code !== 0) throw new Error(`build failed (${out.code}):\n${out.stderr}`);
  return { out, file: (p) => readFileSync(join(dest, p), 'utf8') };
}

interface Row {
  flag: string;
  run: () => Promise<void>;
}

const rows: Row[] = [
  {
    flag: '-q/--quiet prints the image ID (config digest) on stdout, nothing else',
    run: async () => {
      const ctx = context('');
      const iid = join(sb.dir, 'q.iid');
      const out = await sb.tsbuild(['build', '-q', '-t', 'quiet:v1', '--iidfile', iid, ctx]);
      expect(out.code).toBe(0);
      expect(out.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
      expect(out.stdout.trim()).toBe(readFileSync(iid, 'utf8'));
      expect(out.stderr).toBe('');
    },
  },
  {
    flag: '--platform / DOCKER_DEFAULT_PLATFORM set TARGETPLATFORM; a platform no emulator runs fails at its first RUN, named',
    run: async () => {
      const { file } = await buildFiles('ARG TARGETPLATFORM\nRUN echo $TARGETPLATFORM > /p', ['--platform', 'linux/amd64']);
      expect(file('p')).toBe('linux/amd64\n');
      // linux/386 runs natively on amd64 (no emulator); the variable comes from the environment, as buildx.
      const env = await buildFiles('ARG TARGETPLATFORM\nRUN echo $TARGETPLATFORM > /p', [], { env: { DOCKER_DEFAULT_PLATFORM: 'linux/386' } });
      expect(env.file('p')).toBe('linux/386\n');
      const bad = await sb.tsbuild(['build', '--progress', 'plain', '--platform', 'windows/amd64', context('')]);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(/\[2\/2\] RUN echo row-\d+ > \/row.*cannot run windows\/amd64 binaries on this linux\/amd64 host: no emulator is known/s);
      const garbage = await sb.tsbuild(['build', '--platform', 'linux/amd64,linux', context('')]);
      expect(garbage.code).toBe(2);
      expect(garbage.stderr).toMatch(/invalid --platform "linux": expected os\/arch/);
    },
  },
  {
    flag: '--add-host adds /etc/hosts entries to RUN steps',
    run: async () => {
      const { file } = await buildFiles('RUN cat /etc/hosts > /hosts', ['--add-host', 'db.local:10.1.2.3', '--add-host=cache.local=fd00::5']);
      expect(file('hosts')).toMatch(/^10\.1\.2\.3\tdb\.local$/m);
      expect(file('hosts')).toMatch(/^fd00::5\tcache\.local$/m);
      const bad = await sb.tsbuild(['build', '--add-host', 'nohost', context('')]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/invalid --add-host "nohost": expected HOST:IP/);
    },
  },
  {
    flag: '--annotation lands in the manifest (and index: in the OCI index)',
    run: async () => {
      const ctx = context('');
      const dir = join(sb.dir, 'ann');
      const out = await sb.tsbuild(['build', '--annotation', 'org.example.a=1', '--annotation', 'index:org.example.i=2', '-o', `type=oci,dest=${dir},tar=false`, ctx]);
      expect(out.code, out.stderr).toBe(0);
      const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8'));
      expect(index.annotations?.['org.example.i']).toBe('2');
      const m = JSON.parse(readFileSync(join(dir, 'blobs', ...index.manifests[0].digest.split(':')), 'utf8'));
      expect(m.annotations['org.example.a']).toBe('1');
    },
  },
  {
    flag: '--provenance/--sbom/--attest: false builds without attestations; true fails clearly',
    run: async () => {
      const ok = await sb.tsbuild(['build', '--provenance=false', '--sbom', 'false', '--attest', 'type=provenance,disabled=true', '-t', 'noprov:v1', context('')]);
      expect(ok.code, ok.stderr).toBe(0);
      const idx = JSON.parse((await sb.tsbuild(['inspect', 'noprov:v1'])).stdout)[0];
      expect(idx.Manifest.layers.length).toBeGreaterThan(0); // a plain image manifest, no attestation index
      const bad = await sb.tsbuild(['build', '--provenance=mode=max', context('')]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/--provenance=mode=max: tsbuild does not make provenance or SBOM attestations/);
    },
  },
  {
    flag: '-D/--debug sets TSBUILD_DEBUG: errors come with their stack',
    run: async () => {
      const missing = join(sb.dir, 'no-such-context');
      const plain = await sb.tsbuild(['build', missing]);
      const debug = await sb.tsbuild(['build', '-D', missing]);
      const global = await sb.tsbuild(['--debug', 'build', missing]);
      expect(plain.stderr).not.toMatch(/\n\s+at /);
      expect(debug.stderr).toMatch(/does not exist[\s\S]*\n\s+at /);
      expect(global.stderr).toMatch(/\n\s+at /);
    },
  },
  {
    flag: '--builder is accepted and ignored with a note',
    run: async () => {
      const out = await sb.tsbuild(['build', '--builder', 'mybuilder', '--progress', 'plain', context('')]);
      expect(out.code).toBe(0);
      expect(out.stderr).toMatch(/^WARNING: --builder mybuilder: tsbuild has no builder instances; the flag is ignored$/m);
    },
  },
  {
    flag: 'legacy docker build flags: accepted, one warning each where they do nothing',
    run: async () => {
      const out = await sb.tsbuild(['build', '--rm', '--force-rm', '--compress', '--squash', '--security-opt', 'seccomp=unconfined', '--memory-swap', '1g', '-c', '512', '--cpuset-cpus', '0', '--cpuset-mems', '0', '--isolation', 'default', '--disable-content-trust', '--progress', 'plain', context('')]);
      expect(out.code, out.stderr).toBe(0);
      const warned = out.stderr.split('\n').filter((l) => l.startsWith('WARNING: --')).map((l) => l.slice(9).split(/[:=]/)[0]);
      expect(warned.sort()).toEqual(['--compress', '--cpu-shares', '--cpuset-cpus', '--cpuset-mems', '--isolation', '--memory-swap', '--security-opt', '--squash']);
      const rmFalse = await sb.tsbuild(['build', '--rm=false', '--progress', 'plain', context('')]);
      expect(rmFalse.stderr).toMatch(/^WARNING: --rm=false: intermediate containers are always removed; ignored$/m);
    },
  },
  {
    flag: 'boolean flags take =true/=false (pflag syntax)',
    run: async () => {
      const out = await sb.tsbuild(['build', '--push=false', '--pull=false', '--no-cache=true', '--load=false', '--progress', 'plain', context('')]);
      expect(out.code, out.stderr).toBe(0);
      expect(out.stderr).not.toMatch(/CACHED/); // --no-cache=true took effect
      const bad = await sb.tsbuild(['build', '--push=maybe', context('')]);
      expect(bad.stderr).toMatch(/invalid argument "maybe" for "--push" flag/);
    },
  },
  {
    flag: '-o rejects an unknown attribute of a known type, listing the valid ones',
    run: async () => {
      const out = await sb.tsbuild(['build', '-o', 'type=image,name=x:1,push-by-digest=true', context('')]);
      expect(out.code).toBe(2);
      expect(out.stderr).toMatch(/type=image has no attribute "push-by-digest" \(valid: name, push, store, compression/);
      const local = await sb.tsbuild(['build', '-o', `type=local,dest=${sb.dir}/x,platform-split=false`, context('')]);
      expect(local.stderr).toMatch(/type=local has no attribute "platform-split" \(valid: dest, keep-setuid\)/);
    },
  },
  {
    flag: '--secret id=x falls back to the env var x, then the file x',
    run: async () => {
      const fromEnv = await buildFiles('RUN --mount=type=secret,id=TOKEN_X cat /run/secrets/TOKEN_X | wc -c > /len', ['--secret', 'id=TOKEN_X'], { env: { TOKEN_X: 'abcdef' } });
      expect(fromEnv.file('len').trim()).toBe('6');
      const cwd = join(sb.dir, 'secret-cwd');
      mkdirSync(cwd);
      writeFileSync(join(cwd, 'token.txt'), '12345678');
      const fromFile = await buildFiles('RUN --mount=type=secret,id=token.txt cat /run/secrets/token.txt | wc -c > /len', ['--secret', 'id=token.txt'], { cwd });
      expect(fromFile.file('len').trim()).toBe('8');
      const none = await sb.tsbuild(['build', '--secret', 'id=NOPE_NOT_SET', context('')]);
      expect(none.stderr).toMatch(/--secret id=NOPE_NOT_SET: no environment variable NOPE_NOT_SET and no file NOPE_NOT_SET/);
    },
  },
  {
    flag: '--shm-size 0 means the default (64 MiB)',
    run: async () => {
      const { file } = await buildFiles("RUN df -k /dev/shm | awk 'NR==2 {print $2}' > /shm", ['--shm-size', '0']);
      expect(file('shm').trim()).toBe('65536');
    },
  },
  {
    flag: '--progress none and BUILDKIT_PROGRESS',
    run: async () => {
      const none = await sb.tsbuild(['build', '--progress', 'none', context('')]);
      expect(none.code).toBe(0);
      expect(none.stderr).toBe('');
      const env = await sb.tsbuild(['build', context('')], { env: { BUILDKIT_PROGRESS: 'plain' } });
      expect(env.stderr).toMatch(/^#\d+ \[\d\/\d\] RUN echo row-/m);
      const bad = await sb.tsbuild(['build', context('')], { env: { BUILDKIT_PROGRESS: 'fancy' } });
      expect(bad.stderr).toMatch(/invalid BUILDKIT_PROGRESS "fancy"/);
    },
  },
  {
    flag: 'NO_COLOR and BUILDKIT_COLORS (tty view)',
    run: async () => {
      const ctx = context('');
      await sb.tsbuild(['build', '--progress', 'plain', ctx]);
      // An undefined value removes the harness's NO_COLOR=1 from the child's environment.
      const green = await sb.tsbuild(['build', '--progress', 'tty', ctx], { env: { NO_COLOR: undefined as unknown as string, BUILDKIT_COLORS: 'run=green' } });
      expect(green.stderr).toContain('\x1b[32m => CACHED');
      const none = await sb.tsbuild(['build', '--progress', 'tty', ctx], { env: { NO_COLOR: '1', BUILDKIT_COLORS: 'run=green' } });
      expect(none.stderr).not.toMatch(/\x1b\[3\d/);
      expect(none.stderr).toContain(' => CACHED');
    },
  },
  {
    flag: '--build-context NAME=DIR: COPY --from and RUN --mount from= read it through its own .dockerignore; FROM NAME starts from it',
    run: async () => {
      const extra = join(sb.dir, `named-${++n}`);
      mkdirSync(join(extra, 'sub'), { recursive: true });
      writeFileSync(join(extra, 'a.txt'), 'A');
      writeFileSync(join(extra, 'b.txt'), 'B');
      writeFileSync(join(extra, 'sub', 's'), 'S');
      writeFileSync(join(extra, '.dockerignore'), 'b.txt\n');
      const { file } = await buildFiles('COPY --from=extra / /ex/\nRUN --mount=from=extra,target=/mnt ls -A /mnt > /mnt.txt\nRUN ls -A /ex > /ex.txt', ['--build-context', `extra=${extra}`]);
      // b.txt is left out by extra/.dockerignore, as BuildKit does (the main context's is not used).
      expect(file('ex.txt')).toBe('.dockerignore\na.txt\nsub\n');
      expect(file('mnt.txt')).toBe('.dockerignore\na.txt\nsub\n');
      // FROM a directory context: its files are the root filesystem (an empty config).
      const ctx = context('');
      writeFileSync(join(ctx, 'Dockerfile'), 'FROM extra\n');
      const dest = join(sb.dir, `out-from-${n}`);
      const out = await sb.tsbuild(['build', '--progress', 'plain', '--build-context', `extra=${extra}`, '-o', `type=local,dest=${dest}`, ctx]);
      expect(out.code, out.stderr).toBe(0);
      expect(readFileSync(join(dest, 'sub', 's'), 'utf8')).toBe('S');
      expect(() => readFileSync(join(dest, 'b.txt'))).toThrow();
      // Nothing escapes it: `..` stops at its root, a symlink resolves inside it.
      symlinkSync('/etc', join(extra, 'evil'));
      const esc = await sb.tsbuild(['build', '--progress', 'plain', '--build-context', `extra=${extra}`, context('COPY --from=extra evil/hostname ../../etc/passwd /x/')]);
      expect(esc.code).toBe(1);
      expect(esc.stderr).toMatch(/not found/);
      const missing = await sb.tsbuild(['build', '--build-context', `extra=${join(sb.dir, 'nope')}`, context('COPY --from=extra a /a')]);
      expect(missing.stderr).toMatch(/--build-context extra=.*: no such directory/);
    },
  },
  {
    flag: '--build-context: keyed by content (another directory with the same files hits), a changed file reruns',
    run: async () => {
      const dirs = [1, 2, 3].map((k) => join(sb.dir, `keyed-${n}-${k}`));
      dirs.forEach((d, k) => {
        mkdirSync(d);
        writeFileSync(join(d, 'f'), k === 2 ? 'changed' : 'same');
      });
      const ctx = context('COPY --from=lib f /f\nRUN cat /f > /seen');
      const run = (d: string) => sb.tsbuild(['build', '--progress', 'plain', '--build-context', `lib=${d}`, ctx]);
      expect((await run(dirs[0]!)).stderr).not.toMatch(/COPY --from=lib f \/f\n#\d+ CACHED/);
      expect((await run(dirs[1]!)).stderr).toMatch(/COPY --from=lib f \/f\n#\d+ CACHED/);
      expect((await run(dirs[2]!)).stderr).toMatch(/COPY --from=lib f \/f\n#\d+ cache miss: .*f/);
    },
  },
  {
    flag: '--build-context NAME=oci-layout://DIR:TAG replaces the stage NAME (its steps do not run); NAME=docker-image://REF an image',
    run: async () => {
      const layout = join(sb.dir, `layout-${++n}`);
      const made = await sb.tsbuild(['build', '-q', '-o', `type=oci,dest=${layout},tar=false,name=lay:v1`, context('RUN echo from-layout > /marker')]);
      expect(made.code, made.stderr).toBe(0);
      const df = 'FROM busybox:latest AS base\nRUN echo not-replaced > /marker\nFROM base\nCOPY --from=other /etc/group /group\nRUN cat /marker > /seen';
      const ctx = context('');
      writeFileSync(join(ctx, 'Dockerfile'), df);
      const dest = join(sb.dir, `out-${n}`);
      const out = await sb.tsbuild(['build', '--progress', 'plain', '--build-context', `base=oci-layout://${layout}:v1`, '--build-context', 'other=docker-image://busybox:latest', '-o', `type=local,dest=${dest}`, ctx]);
      expect(out.code, out.stderr).toBe(0);
      expect(readFileSync(join(dest, 'seen'), 'utf8')).toBe('from-layout\n');
      expect(readFileSync(join(dest, 'group'), 'utf8')).toMatch(/^root:x:0:/);
      expect(out.stderr).not.toMatch(/not-replaced/);
      const badTag = await sb.tsbuild(['build', '--build-context', `base=oci-layout://${layout}:v2`, ctx]);
      expect(badTag.code).toBe(1);
      expect(badTag.stderr).toMatch(/no image tagged "v2"; its tags: v1/);
    },
  },
  {
    flag: '--call check and its alias --check',
    run: async () => {
      const ctx = context('', {});
      writeFileSync(join(ctx, 'Dockerfile'), 'FROM busybox:latest\nCMD echo hi\n');
      for (const flags of [['--call', 'check'], ['--check'], ['--call=check']]) {
        const out = await sb.tsbuild(['build', ...flags, '--progress', 'plain', ctx]);
        expect(out.code).toBe(1);
        expect(out.stderr).toMatch(/JSONArgsRecommended/);
        expect(out.stderr).toMatch(/Check complete, 1 warning has been found!/);
      }
      const bad = await sb.tsbuild(['build', '--call', 'frobnicate', ctx]);
      expect(bad.stderr).toMatch(/invalid --call "frobnicate": expected build, check, outline or targets/);
    },
  },
  {
    flag: '--call outline|targets print what buildx v0.13 prints (text captured from the reference), build nothing',
    run: async () => {
      const ctx = context('');
      writeFileSync(
        join(ctx, 'Dockerfile'),
        [
          '# TAG is the busybox tag',
          '# second line of it',
          'ARG TAG=latest',
          'ARG UNUSED=x',
          '# base is the common base',
          'FROM busybox:${TAG} AS base',
          '# LEVEL sets the level',
          'ARG LEVEL=3',
          'ARG EMPTY=',
          'ARG TAG',
          'RUN --mount=type=secret,id=npmrc,required=true --mount=type=secret,id=tok --mount=type=ssh,id=gh,required=true echo $LEVEL',
          'FROM busybox:latest AS other',
          'ARG NOT_REACHED',
          'FROM base AS release',
          'ARG LATE="quoted value"',
          'COPY --from=base / /',
          '',
        ].join('\n'),
      );
      const outline = await sb.tsbuild(['build', '--call', 'outline', ctx]);
      expect(outline.code, outline.stderr).toBe(0);
      expect(outline.stdout).toBe(
        'TARGET: release\n\n' +
          'BUILD ARG   VALUE          DESCRIPTION\nTAG         latest         is the busybox tag\nLEVEL       3              sets the level\nEMPTY                      \nLATE        quoted value   \n\n' +
          'SECRET   REQUIRED\nnpmrc    true\ntok      \n\n' +
          'SSH   REQUIRED\ngh    true\n\n',
      );
      const other = await sb.tsbuild(['build', '--call=outline', '--target', 'other', ctx]);
      expect(other.stdout).toBe('TARGET: other\n\nBUILD ARG     VALUE   DESCRIPTION\nNOT_REACHED           \n\n');
      const targets = await sb.tsbuild(['build', '--call', 'targets', ctx]);
      expect(targets.code).toBe(0);
      expect(targets.stdout).toBe('TARGET            DESCRIPTION\nbase              is the common base\nother             \nrelease (default) \n');
      expect(outline.stderr + targets.stderr).toBe(''); // no progress: nothing was built
      const missing = await sb.tsbuild(['build', '--call', 'outline', '--target', 'nope', ctx]);
      expect(missing.stderr).toMatch(/target stage "nope" could not be found/);
    },
  },
  {
    flag: 'unknown flags and commands get docker-style messages',
    run: async () => {
      expect((await sb.tsbuild(['build', '--frobnicate', '.'])).stderr).toMatch(/^ERROR: unknown flag: --frobnicate$/m);
      expect((await sb.tsbuild(['build', '-Z', '.'])).stderr).toMatch(/^ERROR: unknown shorthand flag: 'Z' in -Z$/m);
      expect((await sb.tsbuild(['images', '--frobnicate'])).stderr).toMatch(/^ERROR: unknown flag: --frobnicate$/m);
      const cmd = await sb.tsbuild(['frobnicate']);
      expect(cmd.code).toBe(2);
      expect(cmd.stderr).toMatch(/^ERROR: "frobnicate" is not a tsbuild command$/m);
    },
  },
  {
    flag: 'every command has --help',
    run: async () => {
      for (const cmd of ['build', 'images', 'tag', 'rmi', 'inspect', 'save', 'load', 'push', 'login', 'logout', 'du', 'prune', 'doctor', 'history', 'bench', 'version']) {
        const out = await sb.tsbuild([cmd, '--help']);
        expect(out.code, `${cmd}: ${out.stderr}`).toBe(0);
        expect(out.stdout, cmd).toMatch(new RegExp(`^Usage: tsbuild ${cmd === 'build' ? 'build' : cmd}`));
      }
      expect((await sb.tsbuild(['help', 'logout'])).stdout).toMatch(/^Usage: tsbuild logout/);
    },
  },
  {
    flag: '-o - and save into a pipe that closes early exit quietly (EPIPE), leaving nothing behind',
    run: async () => {
      const ctx = context('RUN dd if=/dev/zero of=/big bs=1M count=16 2>/dev/null');
      const sh = (cmd: string) => sb.tsbuild(['build', '--progress', 'plain', ctx]).then(() => new Promise<{ code: string; err: string }>((res) => {
        const bin = `'${process.execPath}' '${join(repo, 'bin/tsbuild')}'`;
        const child = spawn('bash', ['-c', `${cmd.replace('TSBUILD', bin)} 2>err.txt | head -c 100 >/dev/null; echo "\${PIPESTATUS[0]}"`], { cwd: sb.dir, env: { ...process.env, TSBUILD_ROOT: sb.root, TSBUILD_RUNTIME: sb.runtime } });
        let out = '';
        child.stdout.on('data', (d) => (out += d));
        child.on('close', () => res({ code: out.trim(), err: readFileSync(join(sb.dir, 'err.txt'), 'utf8') }));
      }));
      const build = await sh(`TSBUILD build --progress quiet -o - ${ctx}`);
      expect(build).toEqual({ code: '141', err: '' });
      const save = await sh('TSBUILD save busybox:latest');
      expect(save).toEqual({ code: '141', err: '' });
      expect(sb.storeLeftovers()).toEqual([]);
    },
  },
  {
    flag: '--version and -v report the package version',
    run: async () => {
      const { version } = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));
      expect((await sb.tsbuild(['--version'])).stdout).toBe(`tsbuild ${version}\n`);
      expect((await sb.tsbuild(['-v'])).stdout).toBe(`tsbuild ${version}\n`);
    },
  },
];

describe('docker buildx build flags (table)', () => {
  for (const row of rows) it(row.flag, row.run);
});
