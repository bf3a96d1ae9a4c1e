/**
 * Answers that need no command module: the help texts and, in the bundle, the version. main.ts asks first;
 * bin/tsbuild asks too (through dist/bundle/replay.cjs) before it loads the CLI bundle, so `tsbuild --version`
 * or `tsbuild push --help` cost what the replay costs, not the ~1.7 MB CLI's load. Anything else (an unknown
 * help topic, the version in the tsc output, `tsbuild CONTEXT --help`) is main.ts's to answer.
 */
import { BUILD_HELP, COMMAND_HELP, MAIN_HELP } from './help.js';

export const isHelp = (a: string): boolean => a === '-h' || a === '--help';

/** Set by scripts/bundle.mjs (esbuild define) from package.json; absent from the tsc output. */
declare const __TSBUILD_VERSION__: string | undefined;

/** The version baked into the bundle; undefined in the tsc output (main.ts reads package.json then). */
export function bakedVersion(): string | undefined {
  return typeof __TSBUILD_VERSION__ === 'string' ? __TSBUILD_VERSION__ : undefined;
}

/** What to print on stdout and the exit code, or undefined when a command must run. `argv`: after -D/--debug. */
export function instantAnswer(argv: string[]): { text: string; code: number } | undefined {
  const first = argv[0];
  if (first === undefined) return { text: MAIN_HELP, code: 1 };
  if (isHelp(first)) return { text: MAIN_HELP, code: 0 };
  if (first === 'help') {
    const topic = argv[1];
    if (topic === undefined) return { text: MAIN_HELP, code: 0 };
    if (topic === 'build' || topic === 'b') return { text: BUILD_HELP, code: 0 };
    const text = Object.hasOwn(COMMAND_HELP, topic) ? COMMAND_HELP[topic] : undefined;
    return text === undefined ? undefined : { text, code: 0 };
  }
  if (first === '--version' || first === '-v' || (first === 'version' && argv.length === 1)) {
    const version = bakedVersion();
    return version === undefined ? undefined : { text: `tsbuild ${version}\n`, code: 0 };
  }
  const rest = argv.slice(1);
  if ((first === 'build' || first === 'b') && rest.some(isHelp)) return { text: BUILD_HELP, code: 0 };
  const text = Object.hasOwn(COMMAND_HELP, first) ? COMMAND_HELP[first] : undefined;
  return text !== undefined && rest.some(isHelp) ? { text, code: 0 } : undefined;
}
