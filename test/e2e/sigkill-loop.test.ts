/**
 * A bounded SIGKILL loop: 20 builds killed at random moments across build, export (`-o type=oci`) and push
 * (to a real docker-registry); after each kill `tsbuild doctor` finds the store consistent and the same
 * build then succeeds. The moments come from a seeded generator (TSBUILD_KILL_SEED to replay a failure;
 * the seed is in every failure message).
 * Every build makes a new image (so its export and push do work), but only about half of them run the RUN
 * step again (the build arg it reads changes): the others change only the last COPY, a build without a
 * container (~0.5 s instead of ~1.5–2 s here, for the killed build and for the rebuild after it). Kills
 * inside a running container stay covered by the RUN-miss half (and by crash.test.ts); the loop took
 * 217–316 s on a loaded 2-core CI machine with a RUN in every build.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Sandbox } from './harness.js';
import { TestRegistry } from '../registry/harness.js';

const SEED = Number(process.env.TSBUILD_KILL_SEED ?? 20261202);
const KILLS = 20;

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let reg: TestRegistry;
let sb: Sandbox;

beforeAll(async () => {
  reg = await TestRegistry.start('open');
  sb = new Sandbox();
  sb.makeBaseImage();
}, 120_000);

afterAll(async () => {
  await reg?.stop();
  sb?.cleanup();
});

describe('SIGKILL at random moments', () => {
  it(`${KILLS} kills across build, export and push leave a consistent store (seed ${SEED})`, async () => {
    const random = rng(SEED);
    const ctx = join(sb.dir, 'ctx');
    mkdirSync(ctx, { recursive: true });
    writeFileSync(join(ctx, 'Dockerfile'), 'FROM busybox\nARG N\nCOPY a.txt /a.txt\nRUN echo "$N" > /n && head -c 300000 /dev/urandom > /big\nCOPY i.txt /i.txt\n');
    writeFileSync(join(ctx, 'a.txt'), 'a\n');
    const modes = [
      (n: number) => ['-t', `killed:${n}`],
      (n: number) => ['-o', `type=oci,dest=${join(sb.dir, `out-${n}.tar`)}`],
      (n: number) => ['--push', '-t', `${reg.domain}/killed:${n}`],
    ];
    // A moment: a phase's first line in the output (or the start), then a random delay.
    const phases: [string, RegExp][] = [
      ['start', /^/],
      ['build', /\] (COPY|RUN) /],
      ['layer', /#[34] DONE/], // the RUN (or, when it was cached, the last COPY) finished: its layer is being made
      ['export', /exporting to image/],
    ];
    let killed = 0;
    let runMisses = 0;
    let n = 0; // the RUN's build arg: changed only in the builds that run the RUN again
    for (let i = 0; i < KILLS; i++) {
      const mode = modes[Math.floor(random() * modes.length)]!;
      const [phase, marker] = phases[Math.floor(random() * phases.length)]!;
      const delay = Math.floor(random() * 300);
      if (i === 0 || random() < 0.5) {
        n = i;
        runMisses++;
      }
      writeFileSync(join(ctx, 'i.txt'), `${i}\n`); // every build makes a new image
      const args = ['build', '--progress', 'plain', '--build-arg', `N=${n}`, ...mode(i), ctx];
      const child = sb.spawn(args);
      let err = '';
      let timer: NodeJS.Timeout | undefined;
      const arm = () => {
        if (timer === undefined && marker.test(err)) timer = setTimeout(() => child.kill('SIGKILL'), delay);
      };
      child.stderr.on('data', (d) => {
        err += d;
        arm();
      });
      arm();
      await new Promise<void>((res) => child.on('exit', (_code, signal) => res(void (killed += signal === 'SIGKILL' ? 1 : 0))));
      clearTimeout(timer);
      const where = `kill ${i} (seed ${SEED}, ${phase} + ${delay} ms, ${args.join(' ')}); output so far:\n${err}`;
      const doc = await sb.tsbuild(['doctor']);
      expect(doc.stdout, `doctor after ${where}\n${doc.stdout}${doc.stderr}`).toMatch(/store OK/);
      expect(doc.code).toBe(0);
      const again = await sb.tsbuild(args);
      expect(again.code, `rebuild after ${where}\n${again.stderr}`).toBe(0);
    }
    console.log(`SIGKILL loop (seed ${SEED}): ${killed} of ${KILLS} builds killed before they ended; ${runMisses} ran the RUN again`);
  }, 300_000);
});
