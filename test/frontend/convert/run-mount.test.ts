import { describe, expect, it } from 'vitest';
import { DockerfileError } from '../../../src/errors.js';
import type { Definition, ExecOp } from '../../../src/llb/types.js';
import { dockerfileToDefinition } from '../../../frontend/index.js';
import { parseSize } from '../../../frontend/convert/run-mount.js';
import { frontendInput } from '../fake-images.js';

async function convert(dockerfile: string): Promise<Definition> {
  const out = await dockerfileToDefinition(frontendInput(dockerfile));
  return out.definition;
}

function lastExec(def: Definition): ExecOp {
  const op = def.ops[def.output]!;
  expect(op.type).toBe('exec');
  return op as ExecOp;
}

describe('RUN --mount', () => {
  it('applies BuildKit defaults for each type', async () => {
    const def = await convert(
      [
        'FROM busybox',
        'WORKDIR /w',
        'RUN --mount=type=cache,target=cache --mount=type=secret,id=tok --mount=type=secret,id=e,env=E --mount=type=ssh --mount=type=tmpfs,target=/t,size=2m --mount=target=/ctx true',
        '',
      ].join('\n'),
    );
    const op = lastExec(def);
    expect(op.mounts).toEqual([
      { type: 'cache', target: '/w/cache', id: '/w/cache', sharing: 'shared', readonly: false, mode: 0o755, uid: 0, gid: 0 },
      { type: 'secret', id: 'tok', target: '/run/secrets/tok', required: false, mode: 0o400, uid: 0, gid: 0 },
      { type: 'secret', id: 'e', env: 'E', required: false, mode: 0o400, uid: 0, gid: 0 },
      { type: 'ssh', id: 'default', target: '/run/buildkit/ssh_agent.3', required: false, mode: 0o600, uid: 0, gid: 0 },
      { type: 'tmpfs', target: '/t', size: 2 * 1024 * 1024 },
      { type: 'bind', target: '/ctx', input: 1, source: '.', readonly: true },
    ]);
    // The bind mount's context input is the build context's local source.
    const ctx = def.ops[op.inputs[1]!]!;
    expect(ctx.type === 'source' && ctx.source.kind).toBe('local');
  });

  it('binds from a stage or an image, expands variables, and parses options', async () => {
    const def = await convert(
      [
        'FROM busybox AS build',
        'RUN echo > /x',
        'FROM busybox',
        'ARG ID=pkgs',
        'RUN --mount=type=bind,from=build,source=/x,target=/m,rw --mount=type=cache,id=$ID,target=/c,sharing=locked,mode=0700,uid=1000,gid=1000,from=build,source=/ --mount=type=secret,id=s,target=/k,required=true,mode=0444 true',
        '',
      ].join('\n'),
    );
    const op = lastExec(def);
    expect(op.inputs.length).toBe(2);
    expect(op.mounts).toEqual([
      { type: 'bind', target: '/m', input: 1, source: 'x', readonly: false },
      { type: 'cache', target: '/c', id: 'pkgs', sharing: 'locked', readonly: false, mode: 0o700, uid: 1000, gid: 1000, input: 1, source: '.' },
      { type: 'secret', id: 's', target: '/k', required: true, mode: 0o444, uid: 0, gid: 0 },
    ]);
    // The secret's value is nowhere in the definition; only its id.
    expect(JSON.stringify(def)).not.toContain('value');
  });

  it.each([
    ['RUN --mount=type=nfs,target=/x true', 'unsupported mount type'],
    ['RUN --mount=type=bind true', 'needs a target'],
    ['RUN --mount=type=cache,target=/c,sharing=sometimes true', 'invalid sharing'],
    ['RUN --mount=type=cache,target=/c,mode=999 true', 'invalid mode'],
    ['RUN --mount=type=secret,id=x,env=1BAD true', 'invalid env name'],
    ['RUN --mount=type=tmpfs,target=/a --mount=type=tmpfs,target=/a true', 'same target'],
    ['RUN --mount=type=cache,target=/c,colour=red true', 'unexpected key'],
    ['RUN --mount=type=bind,from=7,target=/c true', 'no stage with index 7'],
  ])('rejects %s', async (line, msg) => {
    await expect(convert(`FROM busybox\n${line}\n`)).rejects.toThrow(DockerfileError);
    await expect(convert(`FROM busybox\n${line}\n`)).rejects.toThrow(msg);
  });

  it('a context source with `..` stops at the context root, as BuildKit (the solver resolves symlinks there too)', async () => {
    const op = lastExec(await convert('FROM busybox\nRUN --mount=type=bind,target=/a,source=../../etc --mount=type=bind,target=/b,source=/x/../../y true\n'));
    expect(op.mounts?.map((m) => (m as { source?: string }).source)).toEqual(['etc', 'y']);
  });

  it('a RUN without --mount has no mounts field (its digest and cache key are unchanged)', async () => {
    const op = lastExec(await convert('FROM busybox\nRUN true\n'));
    expect('mounts' in op).toBe(false);
    expect(op.inputs.length).toBe(1);
  });

  it('parses sizes', () => {
    expect(parseSize('64m')).toBe(64 * 1024 * 1024);
    expect(parseSize('1g')).toBe(1024 ** 3);
    expect(parseSize('100')).toBe(100);
    expect(parseSize('lots')).toBeUndefined();
  });
});
