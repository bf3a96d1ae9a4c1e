/** `tsbuild build` flags, compatible with `docker buildx build` where they overlap. */
import { parseArgs } from 'node:util';
import { UsageError } from '../errors.js';

export type ProgressMode = 'auto' | 'plain' | 'tty' | 'quiet';

export interface OutputSpec {
  type: 'image' | 'oci';
  dest?: string;
  name?: string;
  attrs: Record<string, string>;
}

export interface BuildArgs {
  context: string;
  file?: string;
  tags: string[];
  buildArgs: Record<string, string>;
  target?: string;
  noCache: boolean;
  progress: ProgressMode;
  outputs: OutputSpec[];
  printDefinition: boolean;
  root?: string;
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
        progress: { type: 'string' },
        output: { type: 'string', short: 'o', multiple: true },
        'print-definition': { type: 'boolean' },
        root: { type: 'string' },
        quiet: { type: 'boolean', short: 'q' },
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
    progress,
    outputs,
    printDefinition: values['print-definition'] ?? false,
  };
  if (values.file !== undefined) out.file = values.file;
  if (values.target !== undefined) out.target = values.target;
  if (values.root !== undefined) out.root = values.root;
  return out;
}

/** buildx's CSV output syntax: `type=oci,dest=out.tar`. */
export function parseOutput(spec: string): OutputSpec {
  const attrs: Record<string, string> = {};
  for (const part of spec.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new UsageError(`invalid --output "${spec}": expected key=value pairs such as type=oci,dest=out.tar`);
    attrs[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  const type = attrs.type;
  if (type !== 'oci' && type !== 'image') {
    throw new UsageError(`invalid --output "${spec}": type "${type ?? ''}" is not supported yet (supported: oci, image)`);
  }
  const out: OutputSpec = { type, attrs };
  if (attrs.dest !== undefined) out.dest = attrs.dest;
  if (attrs.name !== undefined) out.name = attrs.name;
  if (type === 'oci' && !out.dest) throw new UsageError(`invalid --output "${spec}": type=oci needs dest=FILE`);
  return out;
}
