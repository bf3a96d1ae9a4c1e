/**
 * The CLI's entry and its one error catch site: dispatch a command, print any error for a person,
 * set the exit code. Commands load lazily so that startup stays fast.
 */
import { TsbuildError, ExecError } from '../errors.js';

const HELP = `Usage: tsbuild [build] [OPTIONS] CONTEXT
       tsbuild images [--root DIR]
       tsbuild tag SOURCE TARGET | rmi NAME... | inspect NAME...
       tsbuild save NAME... [-o FILE] [--format docker|oci] | load [-i FILE] [-t NAME]
       tsbuild du [--verbose] [--json] [--root DIR]            build cache disk use
       tsbuild prune [--all] [--keep-storage SIZE] [--filter until=DURATION] [--root DIR]
       tsbuild doctor [--fix] [--root DIR]                     verify blobs, cache records, snapshots, tags
       tsbuild push [--root DIR] [--insecure-registry HOST:PORT] NAME[:TAG]...
       tsbuild login [REGISTRY] -u USER --password-stdin
       tsbuild logout [REGISTRY]

Build an image from a Dockerfile (build is the default command).

Build options:
  -t, --tag NAME            Name and optionally a tag (name:tag); repeatable
  -f, --file PATH           Dockerfile (default: CONTEXT/Dockerfile; - reads it from stdin)
      --build-arg K=V       Set a build-time variable; repeatable
      --target STAGE        Build the named stage
      --no-cache            Do not use the cache
      --no-cache-filter S   Do not use the cache for stage S (and what depends on it); repeatable
      --explain             Print every step's cache decision and why it missed
      --progress MODE       auto, plain or tty (default: auto)
  -o, --output SPEC         type=image|registry|oci|docker|local|tar[,dest=…][,name=…][,compression=…]
                            (repeatable; -o DIR = type=local, -o - = rootfs tar on stdout)
      --load                Load the image into the Docker daemon (DOCKER_HOST)
      --label K=V           Set an image label; repeatable
      --iidfile FILE        Write the image ID (config digest) to FILE
      --metadata-file FILE  Write build metadata (digests, names, steps) as JSON
      --print-definition    Print the build definition (JSON) and exit
      --check               Run the build checks only (exit 1 when any warns)
      --push                Push the image to the registry of every -t name
      --pull                Always check the registry for newer base images
      --insecure-registry H Allow plain HTTP / unverified TLS for registry H (host:port)
      --allow E             Grant an entitlement: network.host (RUN --network=host),
                            security.insecure (RUN --security=insecure); repeatable
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
  if (first === 'push') {
    const { pushCommand } = await import('./push.js');
    return pushCommand(argv.slice(1));
  }
  if (first === 'login' || first === 'logout') {
    const { loginCommand, logoutCommand } = await import('./login.js');
    return first === 'login' ? loginCommand(argv.slice(1)) : logoutCommand(argv.slice(1));
  }
  if (first === 'du' || first === 'prune' || first === 'doctor') {
    if (first === 'du') return (await import('./du.js')).duCommand(argv.slice(1));
    if (first === 'prune') return (await import('./prune.js')).pruneCommand(argv.slice(1));
    return (await import('./doctor.js')).doctorCommand(argv.slice(1));
  }
  if (first === 'tag' || first === 'rmi' || first === 'inspect' || first === 'save' || first === 'load') {
    const cmds = {
      tag: async () => (await import('./tag.js')).tagCommand,
      rmi: async () => (await import('./rmi.js')).rmiCommand,
      inspect: async () => (await import('./inspect.js')).inspectCommand,
      save: async () => (await import('./save.js')).saveCommand,
      load: async () => (await import('./load.js')).loadCommand,
    };
    return (await cmds[first]())(argv.slice(1));
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
  const rootless = await import('./rootless.js');
  if (rootless.needsUserNamespace() && !rest.includes('--print-definition')) {
    // Parse first: usage errors are reported without starting a namespace.
    const { parseBuildArgs } = await import('./args.js');
    return rootless.reexecInUserNamespace(rest, parseBuildArgs(rest).root);
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
