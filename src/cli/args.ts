/** `tsbuild build` flags, compatible with `docker buildx build` where they overlap. */
import { parseArgs } from 'node:util';
import { UsageError } from '../errors.js';
import { parseSandboxArgs, SANDBOX_OPTIONS, type SandboxArgs } from './sandbox-args.js';
import { parseOutput, type OutputSpec } from './outputs.js';
import { parseCacheSpec, type CacheSpec } from './cache-specs.js';
import { BUILDX_OPTIONS, parseBuildxArgs, type BuildxArgs } from './buildx-args.js';
import { dockerStyleMessage } from './help.js';
import { joinNegativeValues } from './argv.js';

export { parseOutput, type OutputSpec } from './outputs.js';

/** `none` is `quiet` (nothing on stderr); `-q` is quiet plus the image ID on stdout. */
export type ProgressMode = 'auto' | 'plain' | 'tty' | 'quiet' | 'none' | 'rawjson';
const PROGRESS_MODES: readonly ProgressMode[] = ['auto', 'plain', 'tty', 'quiet', 'none', 'rawjson'];

/** `tsbuild build` options: ours, buildx's drop-in flags (./buildx-args.ts) and the sandbox's (./sandbox-args.ts). */
export const BUILD_OPTIONS = {
  tag: { type: 'string', short: 't', multiple: true },
  file: { type: 'string', short: 'f' },
  'build-arg': { type: 'string', multiple: true },
  target: { type: 'string' },
  'no-cache': { type: 'boolean' },
  'no-cache-filter': { type: 'string', multiple: true },
  explain: { type: 'boolean' },
  progress: { type: 'string' },
  output: { type: 'string', short: 'o', multiple: true },
  'print-definition': { type: 'boolean' },
  check: { type: 'boolean' },
  root: { type: 'string' },
  quiet: { type: 'boolean', short: 'q' },
  label: { type: 'string', multiple: true },
  load: { type: 'boolean' },
  push: { type: 'boolean' },
  pull: { type: 'boolean' },
  'insecure-registry': { type: 'string', multiple: true },
  iidfile: { type: 'string' },
  'metadata-file': { type: 'string' },
  'cache-from': { type: 'string', multiple: true },
  'cache-to': { type: 'string', multiple: true },
  ...BUILDX_OPTIONS,
  ...SANDBOX_OPTIONS,
} as const;

export interface BuildArgs extends BuildxArgs {
  context: string;
  file?: string;
  tags: string[];
  buildArgs: Record<string, string>;
  target?: string;
  noCache: boolean;
  /** --no-cache-filter STAGE (repeatable, or comma-separated): these stages ignore the cache. */
  noCacheFilter: string[];
  /** --explain: print every step's cache decision and why it missed. */
  explain: boolean;
  progress: ProgressMode;
  /** -q/--quiet: no progress, and the image ID (config digest) on stdout when the build succeeds. */
  quiet: boolean;
  outputs: OutputSpec[];
  printDefinition: boolean;
  /** --check (= --call=check): evaluate the build checks, print them, build nothing (exit 1 when any is found). */
  check: boolean;
  root?: string;
  /** --label K=V: added to the image config's Labels. */
  labels: Record<string, string>;
  /** --load: send the image to the Docker daemon. */
  load: boolean;
  /** --push: push every -t name (same as type=registry). */
  push: boolean;
  /** --pull: always ask the registry for base images, even when the store has them. */
  pull: boolean;
  /** --insecure-registry HOST[:PORT]: plain HTTP allowed, TLS not verified (repeatable). */
  insecureRegistries: string[];
  iidfile?: string;
  metadataFile?: string;
  /** --cache-from (repeatable, searched in order) and --cache-to: the cache that travels (./cache-travel.ts). */
  cacheFrom: CacheSpec[];
  cacheTo: CacheSpec[];
  /** RUN sandbox: --network, --secret, --ssh, --memory, --cpus, --pids-limit, --ulimit, ... (./sandbox-args.ts). */
  sandbox: SandboxArgs;
}

export function parseBuildArgs(argv: string[]): BuildArgs {
  const { args, explicitFalse } = booleanValues(argv, BUILD_OPTIONS);
  let parsed;
  try {
    parsed = parseArgs({ args: joinNegativeValues(args, BUILD_OPTIONS), allowPositionals: true, strict: true, options: BUILD_OPTIONS });
  } catch (err) {
    throw new UsageError(dockerStyleMessage((err as Error).message), { hint: "see 'tsbuild build --help'" });
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 1) {
    throw new UsageError(
      positionals.length === 0 ? '"tsbuild build" requires exactly 1 argument: the build context (e.g. ".")' : `"tsbuild build" takes 1 context argument, got ${positionals.length}: ${positionals.join(' ')}`,
      { hint: 'usage: tsbuild build [OPTIONS] CONTEXT' },
    );
  }
  const buildArgs: Record<string, string> = {};
  for (const kv of values['build-arg'] ?? []) {
    const eq = kv.indexOf('=');
    if (eq === 0) throw new UsageError(`invalid --build-arg "${kv}": missing name`);
    if (eq < 0) {
      // Docker: `--build-arg NAME` takes the value from the environment, if set.
      const v = process.env[kv];
      if (v !== undefined) buildArgs[kv] = v;
      continue;
    }
    buildArgs[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  // buildx: --progress, else BUILDKIT_PROGRESS, else auto.
  const progressText = values.progress ?? (process.env.BUILDKIT_PROGRESS || undefined);
  let progress: ProgressMode = 'auto';
  if (progressText !== undefined) {
    if (!(PROGRESS_MODES as readonly string[]).includes(progressText)) {
      const from = values.progress !== undefined ? '--progress' : 'BUILDKIT_PROGRESS';
      throw new UsageError(`invalid ${from} "${progressText}": expected ${PROGRESS_MODES.join(', ')}`);
    }
    progress = progressText as ProgressMode;
  }
  if (values.quiet) progress = 'quiet';
  const buildx = parseBuildxArgs(values, { check: values.check ?? false, explicitFalse });
  const outputs = (values.output ?? []).map(parseOutput);
  const out: BuildArgs = {
    ...buildx,
    context: positionals[0]!,
    tags: values.tag ?? [],
    buildArgs,
    noCache: values['no-cache'] ?? false,
    noCacheFilter: (values['no-cache-filter'] ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== ''),
    explain: values.explain ?? false,
    progress,
    quiet: values.quiet ?? false,
    outputs,
    printDefinition: values['print-definition'] ?? false,
    check: buildx.call === 'check',
    labels: parseLabels(values.label ?? []),
    load: values.load ?? false,
    push: values.push ?? false,
    pull: values.pull ?? false,
    insecureRegistries: values['insecure-registry'] ?? [],
    sandbox: parseSandboxArgs(values),
    cacheFrom: (values['cache-from'] ?? []).map((s) => parseCacheSpec('--cache-from', s)),
    cacheTo: (values['cache-to'] ?? []).map((s) => parseCacheSpec('--cache-to', s)),
  };
  if (values.iidfile !== undefined) out.iidfile = values.iidfile;
  if (values['metadata-file'] !== undefined) out.metadataFile = values['metadata-file'];
  if (values.file !== undefined) out.file = values.file;
  if (values.target !== undefined) out.target = values.target;
  if (values.root !== undefined) out.root = values.root;
  return out;
}

/** `--label K=V` (Docker: `--label K` alone sets an empty value). */
function parseLabels(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list) {
    const eq = kv.indexOf('=');
    if (eq === 0) throw new UsageError(`invalid --label "${kv}": missing name`);
    if (eq < 0) out[kv] = '';
    else out[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return out;
}

type OptionTable = Record<string, { type: 'string' | 'boolean'; short?: string }>;

/**
 * pflag's `--flag=true|false` for boolean flags (`--push=false`, `--rm=false` in CI files): `=true` becomes
 * the bare flag, `=false` is dropped and remembered. Anything after `--` is left alone.
 */
export function booleanValues(argv: string[], options: OptionTable): { args: string[]; explicitFalse: Set<string> } {
  const args: string[] = [];
  const explicitFalse = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      args.push(...argv.slice(i));
      break;
    }
    const m = /^--([^=]+)=(.*)$/s.exec(a);
    if (m && options[m[1]!]?.type === 'boolean') {
      const v = m[2]!.toLowerCase();
      if (['true', '1', 't'].includes(v)) args.push(`--${m[1]}`);
      else if (['false', '0', 'f'].includes(v)) explicitFalse.add(m[1]!);
      else throw new UsageError(`invalid argument "${m[2]}" for "--${m[1]}" flag: expected true or false`);
      continue;
    }
    args.push(a);
  }
  return { args, explicitFalse };
}
