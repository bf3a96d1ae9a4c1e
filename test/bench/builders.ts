/**
 * What the bench sections that time whole builds share (test/bench/run.ts, test/bench/sandbox.ts): a timed
 * command, the Builder shape, and the reference BuildKit v0.13 (Docker 26.1 with a warm daemon,
 * `../shared/reference/buildkit.sh`, `docker buildx build`) as one such builder.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { repo } from './bases.js';

const referenceScript = join(repo, '..', 'shared', 'reference', 'buildkit.sh');

/**
 * A command's wall time (ms). Async: the test registry's logs are read by this process, so a blocked event
 * loop (spawnSync) would stall the registry once its pipe fills, and a push would hang. Killed after 15 min.
 */
export function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const keep = (d: Buffer) => (out = (out + d.toString()).slice(-5000));
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => child.kill('SIGKILL'), 900_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(Number(process.hrtime.bigint() - t0) / 1e6);
      else reject(new Error(`${cmd} ${args.join(' ')} failed (${code}):\n${out}`));
    });
  });
}

/** What one build writes besides its build cache. */
export type Output = { kind: 'none' } | { kind: 'docker-tar'; dest: string } | { kind: 'push'; ref: string };

/**
 * One builder under test. `fresh()` empties its build cache and drops the base images (cold = pull too);
 * `flags` are extra build flags (e.g. `--no-cache`), given before the context.
 */
export interface Builder {
  name: string;
  fresh(): void;
  build(ctx: string, out: Output, flags?: string[]): Promise<number>;
}

/**
 * The reference BuildKit v0.13 (dockerd's, warm daemon): started if needed, never stopped (it is shared);
 * `undefined` when it is not installed here or will not start. Every RUN has the host network (the reference
 * daemon has no bridge). `tag`: the name a build without an output gets (the daemon is shared: a section
 * that builds while others may use `bench:latest` picks its own).
 */
export function buildkitBuilder(tag = 'bench:latest'): Builder | undefined {
  if (!existsSync(referenceScript)) return undefined;
  const start = spawnSync('bash', [referenceScript, 'start'], { encoding: 'utf8' });
  if (start.status !== 0) {
    console.error(`bench: the reference BuildKit did not start: ${start.stderr.slice(-500)}`);
    return undefined;
  }
  const env: NodeJS.ProcessEnv = { ...process.env };
  let docker = 'docker';
  for (const kv of execFileSync('bash', [referenceScript, 'env']).toString().trim().split(/\s+/)) {
    const i = kv.indexOf('=');
    if (kv.slice(0, i) === 'DOCKER') docker = kv.slice(i + 1);
    else env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return {
    name: 'buildkit',
    fresh() {
      spawnSync(docker, ['builder', 'prune', '-af'], { stdio: 'ignore', env });
      spawnSync(docker, ['image', 'prune', '-af'], { stdio: 'ignore', env });
    },
    async build(ctx, out, flags = []) {
      // dockerd's builder (the docker driver) has no type=docker,dest= exporter: its export is `docker save`
      // --push pushes every -t name: only the fresh repository's
      const o = out.kind === 'push' ? ['-t', out.ref, '--push'] : ['-t', tag, '--load'];
      let ms = await timed(docker, ['buildx', 'build', '-q', '--network', 'host', ...o, ...flags, ctx], env);
      if (out.kind === 'docker-tar') ms += await timed(docker, ['save', '-o', out.dest, tag], env);
      return ms;
    },
  };
}
