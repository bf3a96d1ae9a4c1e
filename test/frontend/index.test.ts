import { describe, expect, it } from 'vitest';
import { DockerfileError, NotFoundError } from '../../src/errors.js';
import { opDigest } from '../../src/llb/digest.js';
import type { Definition, ExecOp } from '../../src/llb/types.js';
import { dockerfileToDefinition } from '../../frontend/index.js';
import { fakeResolveImage, frontendInput } from './fake-images.js';
import type { FrontendInput } from '../../frontend/index.js';

const input = frontendInput;

/** Every op is reachable from output, every input exists, and keys are the ops' digests. */
function checkDag(def: Definition): void {
  const seen = new Set<string>();
  const walk = (d: string): void => {
    if (seen.has(d)) return;
    seen.add(d);
    const op = def.ops[d];
    expect(op, `missing op ${d}`).toBeDefined();
    expect(opDigest(op!)).toBe(d);
    op!.inputs.forEach(walk);
  };
  walk(def.output);
  expect(new Set(Object.keys(def.ops))).toEqual(seen);
  expect(new Set(Object.keys(def.metadata))).toEqual(seen);
}

describe('dockerfileToDefinition', () => {
  const multi = 'FROM busybox AS a\nRUN echo a\nFROM busybox AS b\nRUN echo b\nFROM scratch\nCOPY --from=b /x /x\n';

  it('expands every word of one ENV/ARG/LABEL against the environment before that instruction', async () => {
    const out = await dockerfileToDefinition(
      input('FROM scratch\nENV A=old\nENV A=new B=$A\nARG C=1 D=${C:-unset}\nLABEL l1=$B l2=$D\nENV E=$A\n'),
    );
    const env = out.definition.image.config.Env ?? [];
    expect(env).toContain('A=new');
    expect(env).toContain('B=old'); // Docker: `ENV abc=bye def=$abc` gives def the old abc
    expect(env).toContain('E=new'); // the next instruction sees the new value
    expect(out.definition.image.config.Labels).toEqual({ l1: 'old', l2: 'unset' });
  });

  it('converts only stages reachable from the target and reports the others', async () => {
    const out = await dockerfileToDefinition(input(multi));
    checkDag(out.definition);
    expect(out.stages).toEqual([
      { name: 'a', index: 0, reachable: false },
      { name: 'b', index: 1, reachable: true },
      { name: '', index: 2, reachable: true },
    ]);
    const descriptions = Object.values(out.definition.metadata).map((m) => m.description);
    expect(descriptions).toContain('[b 2/2] RUN echo b');
    expect(descriptions.some((d) => d.includes('echo a'))).toBe(false);
  });

  it('selects a target case-insensitively and lists stages when it is unknown', async () => {
    const out = await dockerfileToDefinition(input(multi, { target: 'A' }));
    checkDag(out.definition);
    expect(out.stages.map((s) => s.reachable)).toEqual([true, false, false]);
    await expect(dockerfileToDefinition(input(multi, { target: 'nope' }))).rejects.toSatisfy(
      (e: unknown) => e instanceof NotFoundError && e.code === 'TARGET_NOT_FOUND' && /a, b/.test(e.message),
    );
  });

  it('gives the same digest for the same content and a different one when a build arg changes', async () => {
    const df = 'FROM busybox\nARG V=1\nRUN echo $V\n';
    const a = await dockerfileToDefinition(input(df));
    const b = await dockerfileToDefinition(input(df));
    const c = await dockerfileToDefinition(input(df, { buildArgs: { V: '2' } }));
    expect(a.definition.output).toBe(b.definition.output);
    expect(c.definition.output).not.toBe(a.definition.output);
    expect(c.definition.ops[c.definition.output]).toMatchObject({ type: 'exec', env: expect.arrayContaining(['V=2']) });
  });

  it('turns a missing image into IMAGE_NOT_FOUND at the FROM line', async () => {
    const err = await dockerfileToDefinition(input('FROM busybox\nFROM nosuch/image:1\n')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DockerfileError);
    expect((err as DockerfileError).code).toBe('IMAGE_NOT_FOUND');
    expect((err as DockerfileError).location).toMatchObject({ line: 2, lineText: 'FROM nosuch/image:1' });
    expect((err as DockerfileError).message).toContain('nosuch/image:1');
  });

  it('warns about unused build args, not about declared or proxy ones', async () => {
    const out = await dockerfileToDefinition(input('ARG G\nFROM busybox\nARG S\n', { buildArgs: { G: '1', S: '2', X: '3', http_proxy: 'p' } }));
    expect(out.warnings).toEqual([{ message: 'One or more build-args [X] were not consumed', file: 'Dockerfile' }]);
  });

  it('rejects COPY --from a later stage, as BuildKit v0.13 does (which also rules out cycles)', async () => {
    const err = await dockerfileToDefinition(input('FROM busybox AS one\nCOPY --from=two /a /a\nFROM busybox AS two\nRUN true\nFROM one\n')).catch((e: unknown) => e);
    expect((err as DockerfileError).code).toBe('STAGE_ORDER');
    expect((err as DockerfileError).message).toBe('cannot copy from stage "two", it needs to be defined before current stage "one"');
    expect((err as DockerfileError).location.line).toBe(2);
    const ok = await dockerfileToDefinition(input('FROM busybox AS one\nRUN true\nFROM busybox AS two\nCOPY --from=one /a /a\n'));
    checkDag(ok.definition);
  });

  it('uses FROM <earlier stage> by name or index, inheriting its config and env', async () => {
    const out = await dockerfileToDefinition(input('FROM busybox\nENV A=1\nWORKDIR /w\nFROM 0\nRUN echo $A\n'));
    checkDag(out.definition);
    const run = out.definition.ops[out.definition.output]!;
    expect(run).toMatchObject({ type: 'exec', cwd: '/w', env: expect.arrayContaining(['A=1']) });
    expect(out.definition.image.config.WorkingDir).toBe('/w');
  });

  it('keeps includePaths sorted, unique and cleaned, and the exclude patterns unchanged', async () => {
    const out = await dockerfileToDefinition(input('FROM busybox\nCOPY ./b/ a /x/\nCOPY a c/../d /y/\n', { excludePatterns: ['node_modules', '!keep'] }));
    const ctx = Object.values(out.definition.ops).find((o) => o.type === 'source' && o.source.kind === 'local');
    expect(ctx).toEqual({ type: 'source', inputs: [], source: { kind: 'local', name: 'context', excludePatterns: ['node_modules', '!keep'], includePaths: ['a', 'b', 'd'] } });
  });

  it('passes the Dockerfile path into locations', async () => {
    const err = await dockerfileToDefinition(input('FROM busybox\nCOPY ../x .\n', { dockerfilePath: 'sub/Dockerfile.dev' })).catch((e: unknown) => e);
    expect((err as DockerfileError).location).toMatchObject({ file: 'sub/Dockerfile.dev', line: 2, lineText: 'COPY ../x .' });
    expect((err as DockerfileError).code).toBe('PATH_OUTSIDE_CONTEXT');
  });

  it('one conversion per platform: a FROM --platform=$BUILDPLATFORM stage is the same ops for every target; a foreign RUN names its platform', async () => {
    const df = 'FROM --platform=$BUILDPLATFORM busybox AS build\nRUN uname -m > /a\nARG TARGETARCH\nRUN echo $TARGETARCH > /t\nFROM busybox\nCOPY --from=build /a /t /\nRUN cat /t\n';
    const seen: string[] = [];
    const resolveImage: FrontendInput['resolveImage'] = async (ref, platform) => {
      seen.push(`${ref} ${platform.architecture}`);
      return fakeResolveImage(ref);
    };
    const build = { os: 'linux', architecture: 'amd64' };
    const [amd, arm] = await Promise.all(
      [build, { os: 'linux', architecture: 'arm64', variant: 'v8' }].map((platform) => dockerfileToDefinition(input(df, { platform, buildPlatform: build, platformInNames: true, resolveImage }))),
    );
    checkDag(amd!.definition);
    checkDag(arm!.definition);
    // Each conversion resolves a base once per platform: amd64 (both stages), then amd64 (build) + arm64 (target).
    expect(seen.sort()).toEqual(['busybox amd64', 'busybox amd64', 'busybox arm64']);
    const byName = (d: Definition) => Object.fromEntries(Object.entries(d.metadata).map(([k, m]) => [m.description, k]));
    const a = byName(amd!.definition);
    const b = byName(arm!.definition);
    // The build stage runs on the build platform: its uname step is one vertex for both targets, named by that platform.
    expect(a['[linux/amd64 build 2/3] RUN uname -m > /a']).toBeDefined();
    expect(b['[linux/amd64 build 2/3] RUN uname -m > /a']).toBe(a['[linux/amd64 build 2/3] RUN uname -m > /a']);
    // A step that reads TARGETARCH differs per target, and runs natively (no platform on the op).
    const tA = a['[linux/amd64 build 3/3] RUN echo $TARGETARCH > /t']!;
    const tB = b['[linux/amd64 build 3/3] RUN echo $TARGETARCH > /t']!;
    expect(tA).not.toBe(tB);
    expect((amd!.definition.ops[tB] ?? arm!.definition.ops[tB]) as ExecOp).not.toHaveProperty('platform');
    expect((arm!.definition.ops[tB] as ExecOp).env).toContain('TARGETARCH=arm64');
    // The target stage's RUN: the host's has no platform (keys unchanged); arm64's names linux/arm64 (as BuildKit writes it).
    expect(amd!.definition.ops[a['[linux/amd64 3/3] RUN cat /t']!]).not.toHaveProperty('platform');
    expect((arm!.definition.ops[b['[linux/arm64 3/3] RUN cat /t']!] as ExecOp).platform).toEqual({ os: 'linux', architecture: 'arm64' });
    // The automatic args as BuildKit sets them: arm64 has no TARGETVARIANT, BUILDPLATFORM is the build host's.
    const args = await dockerfileToDefinition(input('FROM busybox\nARG TARGETPLATFORM TARGETVARIANT BUILDPLATFORM\nRUN true\n', { platform: { os: 'linux', architecture: 'arm64', variant: 'v8' }, buildPlatform: build }));
    expect((args.definition.ops[args.definition.output] as ExecOp).env).toEqual(expect.arrayContaining(['TARGETPLATFORM=linux/arm64', 'TARGETVARIANT=', 'BUILDPLATFORM=linux/amd64']));
  });
});
