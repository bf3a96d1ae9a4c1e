/**
 * The CLI's entry and its one error catch site: dispatch a command, print any error for a person,
 * set the exit code. Commands load lazily so that startup stays fast.
 */
import { existsSync } from 'node:fs';
import { TsbuildError, ExecError, UsageError } from '../errors.js';
import { BUILD_HELP, COMMAND_HELP, MAIN_HELP, dockerStyleMessage } from './help.js';
import { bakedVersion, instantAnswer, isHelp } from './instant.js';

type Command = (argv: string[]) => Promise<number>;

/** Every command but build (the default): its module loads only when it runs. Add a command here and in ./help.ts. */
const COMMANDS: Record<string, () => Promise<Command>> = {
  images: async () => (await import('./images.js')).imagesCommand,
  tag: async () => (await import('./tag.js')).tagCommand,
  rmi: async () => (await import('./rmi.js')).rmiCommand,
  inspect: async () => (await import('./inspect.js')).inspectCommand,
  save: async () => (await import('./save.js')).saveCommand,
  load: async () => (await import('./load.js')).loadCommand,
  push: async () => (await import('./push.js')).pushCommand,
  login: async () => (await import('./login.js')).loginCommand,
  logout: async () => (await import('./login.js')).logoutCommand,
  du: async () => (await import('./du.js')).duCommand,
  prune: async () => (await import('./prune.js')).pruneCommand,
  doctor: async () => (await import('./doctor.js')).doctorCommand,
  history: async () => (await import('./history/command.js')).historyCommand,
  bench: async () => (await import('./bench/command.js')).benchCommand,
  version: async () => versionCommand,
};

/** Set when stdout's reader went away (`tsbuild build -o - . | head`): the command ends quietly. */
let stdoutClosed = false;

/**
 * `exit`: bin/tsbuild's process ends as soon as a build has finished (its closing line printed, every record
 * written and awaited) instead of tearing the V8 heap down first (~60 ms on a loaded machine). In-process
 * callers (tests) leave it off.
 */
export async function main(argv: string[], opts: { exit?: boolean } = {}): Promise<void> {
  process.stdout.on('error', onStdoutError);
  let code = 0;
  try {
    code = await dispatch(argv);
  } catch (err) {
    code = stdoutClosed ? 141 : printError(err);
  }
  process.exitCode = stdoutClosed ? 141 : code;
  if (opts.exit && builtHere) process.exit();
}

/** Set when this process ran a build (not a re-exec into a user namespace, which waits for its child). */
let builtHere = false;

/**
 * EPIPE on stdout is not an internal error: the reader closed early. A build stops through its interrupt
 * handler (which cleans up: containers, mounts, temp files) and exits quietly with 141 (128 + SIGPIPE, as a
 * shell reports a writer killed by SIGPIPE); a command with nothing to clean up exits at once.
 */
function onStdoutError(err: NodeJS.ErrnoException): void {
  if (err.code !== 'EPIPE') throw err;
  if (stdoutClosed) return;
  stdoutClosed = true;
  if (process.listenerCount('SIGTERM') > 0) process.emit('SIGTERM');
  else process.exit(141);
}

async function dispatch(argv: string[]): Promise<number> {
  // Global flags before the command (docker's `docker --debug build .`).
  let i = 0;
  for (; i < argv.length && (argv[i] === '-D' || argv[i] === '--debug'); i++) process.env.TSBUILD_DEBUG = '1';
  argv = argv.slice(i);
  // Help texts and the bundle's version (./instant.ts; bin/tsbuild asks it before loading this CLI).
  const answer = instantAnswer(argv);
  if (answer) {
    process.stdout.write(answer.text);
    return answer.code;
  }
  const first = argv[0]!; // no words: the help above
  if (first === 'help') throw notACommand(argv[1]!); // a topic the help does not know
  if (first === '--version' || first === '-v') return versionCommand([]);
  const command = Object.hasOwn(COMMANDS, first) ? COMMANDS[first] : undefined;
  if (command) {
    if (argv.slice(1).some(isHelp)) {
      process.stdout.write(COMMAND_HELP[first] ?? MAIN_HELP);
      return 0;
    }
    try {
      return await (await command())(argv.slice(1));
    } catch (err) {
      // parseArgs' own messages, in docker's words.
      if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
        throw new UsageError(dockerStyleMessage((err as Error).message), { hint: (err as UsageError).hint ?? `see 'tsbuild ${first} --help'` });
      }
      throw err;
    }
  }
  if (first !== 'build' && first !== 'b' && !first.startsWith('-') && !looksLikeContext(first)) throw notACommand(first);
  const rest = first === 'build' || first === 'b' ? argv.slice(1) : argv;
  if (rest.some(isHelp)) {
    process.stdout.write(BUILD_HELP);
    return 0;
  }
  const rootless = await import('./rootless.js');
  if (rootless.needsUserNamespace() && !rest.includes('--print-definition')) {
    // Parse first: usage errors are reported without starting a namespace.
    const { parseBuildArgs } = await import('./args.js');
    return rootless.reexecInUserNamespace(rest, parseBuildArgs(rest).root);
  }
  const { buildCommand } = await import('./build.js');
  builtHere = true;
  return buildCommand(rest);
}

/** `tsbuild CONTEXT` builds (build is the default command): a first word that names no command must look like one. */
function looksLikeContext(word: string): boolean {
  return word === '-' || word.includes('/') || word.includes('.') || word.includes(':') || existsSync(word);
}

function notACommand(word: string): UsageError {
  return new UsageError(`"${word}" is not a tsbuild command`, { hint: "see 'tsbuild --help' (to build a directory of that name: tsbuild build ./" + word + ')' });
}

/** `tsbuild --version`: the package's version, baked into the bundle (the unbundled CLI reads package.json). */
async function versionCommand(argv: string[]): Promise<number> {
  if (argv.length > 0) throw new UsageError(`"tsbuild version" takes no arguments`);
  let version = bakedVersion();
  if (version === undefined) {
    const { readFile } = await import('node:fs/promises');
    version = (JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  }
  process.stdout.write(`tsbuild ${version}\n`);
  return 0;
}

/** Print an error for a person; return the exit code. A TsbuildError's stack is printed only with -D/--debug (TSBUILD_DEBUG). */
export function printError(err: unknown): number {
  const out: string[] = [];
  if (err instanceof TsbuildError) {
    out.push(`ERROR: ${clip(err.message, 2000)}`);
    const exec = findCause(err, ExecError);
    if (exec && exec.outputTail.trim()) {
      out.push('------');
      for (const l of exec.outputTail.replace(/\n$/, '').split('\n')) out.push(` > ${clip(l, 1000)}`);
      out.push('------');
    }
    const loc = err.location;
    if (loc) {
      out.push(`${loc.file}:${loc.line}${loc.column ? `:${loc.column}` : ''}`);
      if (loc.lineText !== undefined) {
        out.push('--------------------');
        // A long line is shown as a window around the column (a 1 MB line is not echoed).
        const from = loc.column && loc.column > 160 ? loc.column - 80 : 0;
        const shown = (from > 0 ? '…' : '') + clip(loc.lineText.slice(from), 200);
        out.push(`${String(loc.line).padStart(4)} | ${shown}`);
        if (loc.column) out.push(`${' '.repeat(4)} | ${' '.repeat(loc.column - 1 - from + (from > 0 ? 1 : 0))}^`);
        out.push('--------------------');
      }
    }
    if (err.hint) out.push(`hint: ${err.hint}`);
    // -D/--debug: where the error came from, and every cause.
    if (process.env.TSBUILD_DEBUG) for (let e: unknown = err, i = 0; e instanceof Error && i < 8; e = e.cause, i++) out.push(`${i === 0 ? '' : 'caused by: '}${e.stack ?? e.message}`);
    process.stderr.write(out.join('\n') + '\n');
    return err.exitCode;
  }
  const e = err as Error;
  process.stderr.write(`ERROR: internal error: ${e && e.stack ? e.stack : String(err)}\n`);
  return 1;
}

function clip(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max)}… (${s.length - max} more characters)` : s;
}

function findCause<T extends Error>(err: unknown, cls: new (...a: never[]) => T): T | undefined {
  let cur: unknown = err;
  for (let i = 0; i < 8 && cur; i++) {
    if (cur instanceof cls) return cur;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}
