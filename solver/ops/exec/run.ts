/** exec op: run a process on a writable snapshot of the parent, then commit it. */
import { exactBinarySize } from '../../../src/units/bytes.js';
import { ExecError, TsbuildError } from '../../../src/errors.js';
import type { Executor } from '../../../src/executor/types.js';
import type { ExecOp } from '../../../src/llb/types.js';
import type { Snapshotter } from '../../../src/snapshot/types.js';
import type { OpOutput, RunContext } from '../../types.js';
import { commitSnapshot, keyHex, tempKey } from '../commit.js';
import { ensureEmulation } from '../../../src/executor/emulation.js';
import { warmTarWorker } from '../../../src/diff/tar-producer.js';
import { prepareMounts, type ExecSandboxOptions, type PreparedMounts } from './mounts.js';

const TAIL_LINES = 20;
/** A RUN running this long gets the tar worker started for its layer (short steps never pay for one). */
const WARM_TAR_AFTER_MS = 1000;
const TAIL_BYTES = 64 * 1024;

/** The last lines of a process's combined output. */
export class OutputTail {
  private chunks: Buffer[] = [];
  private size = 0;

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size - this.chunks[0]!.length >= TAIL_BYTES) this.size -= this.chunks.shift()!.length;
  }

  text(lines = TAIL_LINES): string {
    const all = Buffer.concat(this.chunks).toString('utf8').replace(/\n$/, '');
    if (all === '') return '';
    return all.split('\n').slice(-lines).join('\n');
  }
}

export async function runExec(
  ctx: RunContext,
  deps: { snapshotter: Snapshotter; executor: Executor; locals: Record<string, string>; stateDir: string; sandbox?: ExecSandboxOptions },
): Promise<OpOutput> {
  const op = ctx.vertex.op as ExecOp;
  const { snapshotter, executor } = deps;
  // A foreign platform's step runs under a qemu emulator registered with binfmt_misc, or fails naming the fix.
  if (op.platform) await ensureEmulation(op.platform);
  const parent = ctx.inputs[0]?.snapshot ?? undefined;
  const active = tempKey(`exec:${keyHex(ctx.key).slice(0, 16)}`);
  const mounts = await snapshotter.prepare(active, parent);
  const tail = new OutputTail();
  let extra: PreparedMounts | undefined;
  try {
    extra = op.mounts?.length ? await prepareMounts(ctx, op, deps) : undefined;
    const limits = deps.sandbox?.limits;
    // A step still running after WARM_TAR_AFTER_MS is likely to leave a large layer (an apt-get, a
    // compile): the tar worker starts now, beside the container, instead of after it (tar-producer.ts).
    const warm = setTimeout(warmTarWorker, WARM_TAR_AFTER_MS);
    warm.unref();
    const res = await executor.run(
      mounts,
      { args: op.args, env: [...op.env, ...(extra?.env ?? [])], cwd: op.cwd, user: op.user },
      {
        signal: ctx.signal,
        network: op.network,
        ...(op.security ? { security: op.security } : {}),
        ...(limits ? { limits } : {}),
        ...(extra?.mounts.length ? { mounts: extra.mounts } : {}),
        ...(extra?.secretEnv.length ? { secretEnv: extra.secretEnv } : {}),
        onStdout: (c) => {
          tail.push(c);
          ctx.log('stdout', c);
        },
        onStderr: (c) => {
          tail.push(c);
          ctx.log('stderr', c);
        },
      },
    ).finally(() => clearTimeout(warm));
    if (ctx.signal.aborted) throw ctx.signal.reason ?? new TsbuildError('CANCELED', 'build canceled');
    if (res.exitCode !== 0) {
      let how = res.signal ? `exit code: ${res.exitCode} (killed by ${res.signal})` : `exit code: ${res.exitCode}`;
      if (res.oomKilled) how = `out of memory (limit ${exactBinarySize(res.oomKilled.limitBytes)}), ${how}`;
      else if (res.pidsLimitHit) how += ` (the pids limit of ${res.pidsLimitHit.limit} processes was reached)`;
      const cmd = op.args.join(' ');
      const shown = cmd.length > 200 ? `${cmd.slice(0, 200)}…` : cmd; // a 1 MB command is not echoed whole
      throw new ExecError(`process "${shown}" did not complete successfully: ${how}`, {
        exitCode: res.exitCode,
        signal: res.signal ?? null,
        outputTail: tail.text(),
      });
    }
    await extra?.cleanup();
    extra = undefined;
    return { snapshot: await commitSnapshot(snapshotter, `op:${keyHex(ctx.key)}`, active, ctx.noCache) };
  } catch (err) {
    await extra?.cleanup();
    await snapshotter.remove(active).catch(() => {});
    throw err;
  }
}

