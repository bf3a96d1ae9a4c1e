/** `tsbuild build` flags, compatible with `docker buildx build` where they overlap. */
import { parseArgs } from 'node:util';
import { UsageError } from '../errors.js';
import { parseSandboxArgs, SANDBOX_OPTIONS, type SandboxArgs } from './sandbox-args.js';
import { parseOutput, type OutputSpec } from './outputs.js';
import { parseCacheSpec, type CacheSpec } from './cache-specs.js';

export { parseOutput, type OutputSpec } from './outputs.js';

export type ProgressMode = 'auto' | 'plain' | 'tty' | 'quiet';

export interface BuildArgs {
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
  outputs: OutputSpec[];
  printDefinition: boolean;
  /** --check: evaluate the build checks, print them, build nothing (exit 1 when any is found). */
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
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
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
        ...SANDBOX_OPTIONS,
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, ''), { hint: 'see `tsbuild --help`' });
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
  let progress: ProgressMode = 'auto';
  if (values.progress !== undefined) {
    if (!['auto', 'plain', 'tty', 'quiet'].includes(values.progress)) {
      throw new UsageError(`invalid --progress "${values.progress}": expected auto, plain, tty or quiet`);
    }
    progress = values.progress as ProgressMode;
  }
  if (values.quiet) progress = 'quiet';
  const outputs = (values.output ?? []).map(parseOutput);
  const out: BuildArgs = {
    context: positionals[0]!,
    tags: values.tag ?? [],
    buildArgs,
    noCache: values['no-cache'] ?? false,
    noCacheFilter: (values['no-cache-filter'] ?? []).flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== ''),
    explain: values.explain ?? false,
    progress,
    outputs,
    printDefinition: values['print-definition'] ?? false,
    check: values.check ?? false,
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
