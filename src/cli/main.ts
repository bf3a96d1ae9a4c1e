/**
 * The CLI's entry and its one error catch site: dispatch a command, print any error for a person,
 * set the exit code. Commands load lazily so that startup stays fast.
 */
import { TsbuildError, ExecError } from '../errors.js';

const HELP = `Usage: tsbuild [build] [OPTIONS] CONTEXT
       tsbuild images [--root DIR]

Build an image from a Dockerfile (build is the default command).

Build options:
  -t, --tag NAME            Name and optionally a tag (name:tag); repeatable
  -f, --file PATH           Dockerfile (default: CONTEXT/Dockerfile)
      --build-arg K=V       Set a build-time variable; repeatable
      --target STAGE        Build the named stage
      --no-cache            Do not use the cache
      --progress MODE       auto, plain or tty (default: auto)
  -o, --output SPEC         type=oci,dest=out.tar | type=image (default when -t is given)
      --print-definition    Print the build definition (JSON) and exit
      --root DIR            Store directory (default: /var/lib/tsbuild for root,
                            $XDG_DATA_HOME/tsbuild otherwise; env TSBUILD_ROOT)
  -h, --help                Show this help
      --version             Show the version
`;

export async function main(argv: string[]): Promise<void> {
  let code = 0;
  try {
    code = await dispatch(argv);
  } catch (err) {
    code = printError(err);
  }
  process.exitCode = code;
}

async function dispatch(argv: string[]): Promise<number> {
  const first = argv[0];
  if (first === '-h' || first === '--help' || first === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  if (first === '--version' || first === 'version') {
    process.stdout.write('tsbuild 0.1.0\n');
    return 0;
  }
  if (first === 'images') {
    const { imagesCommand } = await import('./images.js');
    return imagesCommand(argv.slice(1));
  }
  const rest = first === 'build' || first === 'b' ? argv.slice(1) : argv;
  if (rest.includes('-h') || rest.includes('--help')) {
    process.stdout.write(HELP);
    return 0;
  }
  const { buildCommand } = await import('./build.js');
  return buildCommand(rest);
}

/** Print an error for a person; return the exit code. Never prints a stack for a TsbuildError. */
export function printError(err: unknown): number {
  const out: string[] = [];
  if (err instanceof TsbuildError) {
    out.push(`ERROR: ${err.message}`);
    const exec = findCause(err, ExecError);
    if (exec && exec.outputTail.trim()) {
      out.push('------');
      for (const l of exec.outputTail.replace(/\n$/, '').split('\n')) out.push(` > ${l}`);
      out.push('------');
    }
    const loc = err.location;
    if (loc) {
      out.push(`${loc.file}:${loc.line}${loc.column ? `:${loc.column}` : ''}`);
      if (loc.lineText !== undefined) {
        out.push('--------------------');
        out.push(`${String(loc.line).padStart(4)} | ${loc.lineText}`);
        if (loc.column) out.push(`${' '.repeat(4)} | ${' '.repeat(loc.column - 1)}^`);
        out.push('--------------------');
      }
    }
    if (err.hint) out.push(`hint: ${err.hint}`);
    process.stderr.write(out.join('\n') + '\n');
    return err.exitCode;
  }
  const e = err as Error;
  process.stderr.write(`ERROR: internal error: ${e && e.stack ? e.stack : String(err)}\n`);
  return 1;
}

function findCause<T extends Error>(err: unknown, cls: new (...a: never[]) => T): T | undefined {
  let cur: unknown = err;
  for (let i = 0; i < 8 && cur; i++) {
    if (cur instanceof cls) return cur;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}
