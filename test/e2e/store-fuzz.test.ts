/**
 * Store-state fuzzing (issue 12): a few hundred small generated Dockerfiles (./fuzz-dockerfile.ts), built one
 * after another in ONE store from the same context directory and Dockerfile path (so step memos, cache
 * records and rebuild memos of one Dockerfile meet the next one's steps on the same lines), then again in a
 * shuffled order. Asserts: a Dockerfile builds exactly when the generator says it is valid; no diagnostic
 * reports an internal error; the same Dockerfile always gives the same image (config digest, so the same
 * layer diff_ids and history; created times fixed by SOURCE_DATE_EPOCH).
 *
 * The builds run in this process through the CLI's entry (src/cli/main.ts `main`, its one catch site
 * included), not a process per build: Node's startup would cost more than most of these builds.
 * Seed: FUZZ_SEED (printed; default a fixed seed, for CI). Size: FUZZ_COUNT Dockerfiles (default 150), cut
 * short by FUZZ_BUDGET_S seconds of building (default 170: pass 1 gets 55% of it, pass 2 the rest).
 */
import { describe, expect, it } from 'vitest';
import { chmodSync, mkdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { main } from '../../src/cli/main.js';
import { suiteSandbox } from './harness.js';
import { CONTEXT_FILES, DockerfileGenerator, prng, type GeneratedDockerfile } from './fuzz-dockerfile.js';

const sb = suiteSandbox();

const SEED = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : 20261202;
const COUNT = Number(process.env.FUZZ_COUNT ?? 150);
const BUDGET_MS = Number(process.env.FUZZ_BUDGET_S ?? 170) * 1000;

interface Outcome {
  code: number;
  output: string;
  imageId?: string;
}

/** `tsbuild build` in this process, its stderr captured. */
async function build(ctx: string, iidfile: string): Promise<Outcome> {
  rmSync(iidfile, { force: true });
  const chunks: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((c: string | Uint8Array) => {
    chunks.push(typeof c === 'string' ? c : Buffer.from(c).toString('utf8'));
    return true;
  }) as typeof process.stderr.write;
  try {
    await main(['build', '--root', sb.root, '--progress', 'plain', '--iidfile', iidfile, ctx]);
  } finally {
    process.stderr.write = write;
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = undefined;
  let imageId: string | undefined;
  try {
    imageId = readFileSync(iidfile, 'utf8').trim();
  } catch {
    imageId = undefined;
  }
  return { code, output: chunks.join(''), ...(imageId ? { imageId } : {}) };
}

function shuffle<T>(xs: T[], rnd: () => number): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe('store-state fuzzing', () => {
  it(`generated Dockerfiles in one store, twice in different orders: build iff valid, same Dockerfile → same image (seed ${SEED})`, async () => {
    process.stdout.write(`store-fuzz: seed ${SEED} (FUZZ_SEED=${SEED} reproduces), up to ${COUNT} Dockerfiles, budget ${BUDGET_MS / 1000}s\n`);
    const ctx = join(sb.dir, 'fuzz-ctx');
    for (const [rel, f] of Object.entries(CONTEXT_FILES)) {
      mkdirSync(dirname(join(ctx, rel)), { recursive: true });
      writeFileSync(join(ctx, rel), f.data);
      chmodSync(join(ctx, rel), f.mode);
      utimesSync(join(ctx, rel), 1_700_000_000, 1_700_000_000);
    }
    const iidfile = join(sb.dir, 'fuzz-iid');
    const gen = new DockerfileGenerator(SEED);
    const dockerfiles: GeneratedDockerfile[] = Array.from({ length: COUNT }, () => gen.next());
    const images = new Map<string, string>();
    const problems: string[] = [];
    const oldEpoch = process.env.SOURCE_DATE_EPOCH;
    process.env.SOURCE_DATE_EPOCH = '1700000000';
    const started = Date.now();
    const counts = { pass1: 0, pass2: 0, invalid: 0 };

    const one = async (d: GeneratedDockerfile, pass: string): Promise<void> => {
      writeFileSync(join(ctx, 'Dockerfile'), d.text);
      const out = await build(ctx, iidfile);
      const show = `${pass}, seed ${SEED}:\n${d.text}--- output (last lines):\n${out.output.split('\n').slice(-15).join('\n')}`;
      if (d.valid && out.code !== 0) problems.push(`valid Dockerfile failed (${pass}):\n${show}`);
      if (!d.valid && out.code === 0) problems.push(`invalid Dockerfile (${d.invalidBecause}) built:\n${show}`);
      if (/internal error|Cannot read properties|is not a function|TypeError/i.test(out.output)) problems.push(`internal error:\n${show}`);
      if (!d.valid) counts.invalid++;
      if (d.valid && out.code === 0) {
        const before = images.get(d.text);
        if (before === undefined) images.set(d.text, out.imageId!);
        else if (before !== out.imageId) problems.push(`same Dockerfile, another image: ${before} then ${out.imageId}\n${show}`);
      }
    };

    try {
      const built: GeneratedDockerfile[] = [];
      for (const d of dockerfiles) {
        if (Date.now() - started > BUDGET_MS * 0.55 || problems.length >= 5) break;
        await one(d, `pass 1, #${built.length + 1}`);
        built.push(d);
        counts.pass1++;
      }
      for (const [i, d] of shuffle(built, prng(SEED ^ 0x5eed)).entries()) {
        if (Date.now() - started > BUDGET_MS || problems.length >= 5) break;
        await one(d, `pass 2, #${i + 1}`);
        counts.pass2++;
      }
    } finally {
      if (oldEpoch === undefined) delete process.env.SOURCE_DATE_EPOCH;
      else process.env.SOURCE_DATE_EPOCH = oldEpoch;
    }
    process.stdout.write(
      `store-fuzz: seed ${SEED}: ${counts.pass1} builds in pass 1, ${counts.pass2} in pass 2 (${counts.invalid} of all builds invalid on purpose), ` +
        `${images.size} distinct images, ${((Date.now() - started) / 1000).toFixed(0)}s\n`,
    );
    expect(problems, problems.join('\n\n')).toEqual([]);
    expect(counts.pass2).toBeGreaterThan(0);
  }, 30 * 60_000);
});
