/**
 * Typed, validated instructions built from ParsedNodes. Keywords are upper case; values are still
 * unexpanded (variable expansion happens in frontend/convert with the right environment).
 */
import { DockerfileError } from '../../src/errors.js';
import { FlagError, parseFlags } from './flags.js';
import { parseGoDuration } from './duration.js';
import { KNOWN_KEYWORDS } from './node.js';
import { flagLocation } from './ast-view.js';
import { errorColumn } from './text.js';
import type { Heredoc, ParsedNode } from './types.js';

export interface InstructionLocation {
  file: string;
  startLine: number;
  endLine: number;
  lineText: string;
}

interface Common {
  loc: InstructionLocation;
  /** The instruction as written on its (joined) line, e.g. `RUN make all`. */
  original: string;
}

export interface FromInstruction extends Common { keyword: 'FROM'; image: string; stageName?: string; platform?: string }
export interface ArgInstruction extends Common { keyword: 'ARG'; args: { key: string; value?: string }[] }
export interface KeyValueInstruction extends Common { keyword: 'ENV' | 'LABEL'; pairs: { key: string; value: string }[] }
export interface RunInstruction extends Common {
  keyword: 'RUN';
  /** Exec form when true (args are the argv); shell form otherwise (args is [command text]). */
  json: boolean;
  args: string[];
  heredocs: Heredoc[];
  network?: string;
  /** --security=insecure: all capabilities, no seccomp (needs the security.insecure entitlement). */
  security?: 'insecure' | 'sandbox';
  /** --mount values as written (unexpanded), in order. */
  mounts?: string[];
}
export interface CommandInstruction extends Common { keyword: 'CMD' | 'ENTRYPOINT'; json: boolean; args: string[] }
export interface ShellInstruction extends Common { keyword: 'SHELL'; args: string[] }
export interface CopyInstruction extends Common {
  keyword: 'COPY' | 'ADD';
  sources: string[];
  dest: string;
  json: boolean;
  from?: string;
  chown?: string;
  chmod?: string;
  link: boolean;
  heredocs: Heredoc[];
  /** --exclude patterns (unexpanded), in order. */
  exclude: string[];
  /** COPY --parents. */
  parents: boolean;
  /** ADD --checksum. */
  checksum?: string;
  /** ADD --keep-git-dir. */
  keepGitDir?: boolean;
  /** ADD --unpack (unset: unpack local archives, not remote files). */
  unpack?: boolean;
}
export interface ValueInstruction extends Common { keyword: 'WORKDIR' | 'USER' | 'STOPSIGNAL' | 'MAINTAINER'; value: string }
export interface ExposeInstruction extends Common { keyword: 'EXPOSE'; ports: string[] }
export interface VolumeInstruction extends Common { keyword: 'VOLUME'; paths: string[] }
export interface HealthcheckInstruction extends Common {
  keyword: 'HEALTHCHECK';
  /** ["NONE"], ["CMD", ...argv] or ["CMD-SHELL", command]. */
  test: string[];
  /** Nanoseconds. */
  interval?: number;
  timeout?: number;
  startPeriod?: number;
  startInterval?: number;
  retries?: number;
}
export interface OnbuildInstruction extends Common { keyword: 'ONBUILD'; expression: string; trigger: Instruction }

export type Instruction =
  | FromInstruction
  | ArgInstruction
  | KeyValueInstruction
  | RunInstruction
  | CommandInstruction
  | ShellInstruction
  | CopyInstruction
  | ValueInstruction
  | ExposeInstruction
  | VolumeInstruction
  | HealthcheckInstruction
  | OnbuildInstruction;

const STAGE_NAME = /^[a-z][a-z0-9-_.]*$/;
const NOT_SUPPORTED_FLAGS: Record<string, string[]> = {
  RUN: ['device'],
};

/** Convert one parsed node. Throws DockerfileError with the node's location. */
export function toInstruction(node: ParsedNode, file: string): Instruction {
  const loc: InstructionLocation = { file, startLine: node.startLine, endLine: node.endLine, lineText: node.lineText };
  const fail = (code: string, message: string, needle?: string): never => {
    throw new DockerfileError(code, message, { file, line: node.startLine, column: errorColumn(node.lineText, needle), lineText: node.lineText });
  };
  const keyword = node.keyword.toUpperCase();
  if (!KNOWN_KEYWORDS.has(node.keyword.toLowerCase())) fail('UNKNOWN_INSTRUCTION', `unknown instruction: ${node.keyword}`);
  let flags;
  try {
    flags = parseFlags(keyword, node.flags);
  } catch (err) {
    if (!(err instanceof FlagError)) throw err;
    // The column comes from dockerfile-ast's flag positions (the flag may be on a continuation line).
    const at = flagLocation(node, err.index);
    if (!at) fail('INVALID_FLAG', err.message, node.flags[err.index]?.split('=')[0]);
    throw new DockerfileError('INVALID_FLAG', err.message, { file, line: at!.line, column: at!.column, lineText: at!.lineText });
  }
  for (const f of NOT_SUPPORTED_FLAGS[keyword] ?? []) {
    if (f in flags.strings || f in flags.bools || f in flags.lists) fail('NOT_SUPPORTED', `${keyword} --${f} is not supported by tsbuild yet`);
  }
  const original = node.original.trim();
  const common: Common = { loc, original };
  const args = node.args;
  const atLeast = (n: number): void => {
    if (args.length < n) fail('INVALID_INSTRUCTION', `${keyword} requires at least ${n === 1 ? 'one argument' : `${n} arguments`}`);
  };

  switch (keyword) {
    case 'FROM': {
      if (args.length !== 1 && !(args.length === 3 && args[1]!.toLowerCase() === 'as')) {
        fail('INVALID_INSTRUCTION', 'FROM requires either one argument, or three: FROM <source> [AS <name>]');
      }
      const inst: FromInstruction = { ...common, keyword, image: args[0]! };
      if (args.length === 3) {
        const name = args[2]!.toLowerCase();
        if (!STAGE_NAME.test(name)) fail('INVALID_STAGE_NAME', `invalid name for build stage: ${JSON.stringify(args[2])}, name can't start with a number or contain symbols`);
        inst.stageName = name;
      }
      if (flags.strings.platform !== undefined) inst.platform = flags.strings.platform;
      return inst;
    }
    case 'ARG': {
      atLeast(1);
      return {
        ...common,
        keyword,
        args: args.map((w) => {
          const eq = w.indexOf('=');
          const key = eq < 0 ? w : w.slice(0, eq);
          if (key === '') fail('INVALID_INSTRUCTION', `ARG names can not be blank`);
          return eq < 0 ? { key } : { key, value: w.slice(eq + 1) };
        }),
      };
    }
    case 'ENV':
    case 'LABEL': {
      if (args.length === 0) fail('INVALID_INSTRUCTION', `${keyword} requires at least one argument`);
      const pairs: { key: string; value: string }[] = [];
      for (let i = 0; i < args.length; i += 3) {
        if (args[i] === '') fail('INVALID_INSTRUCTION', `${keyword} names can not be blank`);
        pairs.push({ key: args[i]!, value: args[i + 1]! });
      }
      return { ...common, keyword, pairs };
    }
    case 'RUN': {
      if (args.length === 0 && node.heredocs.length === 0) atLeast(1);
      const inst: RunInstruction = { ...common, keyword, json: node.json, args: [...args], heredocs: node.heredocs };
      if (flags.strings.network !== undefined) {
        const n = flags.strings.network;
        if (n !== 'default' && n !== 'none' && n !== 'host') fail('INVALID_FLAG', `RUN --network: unsupported network mode ${JSON.stringify(n)} (default, none or host)`);
        inst.network = n;
      }
      if (flags.strings.security !== undefined) {
        const m = flags.strings.security as string;
        if (m !== 'insecure' && m !== 'sandbox') fail('INVALID_FLAG', `RUN --security: unsupported security mode ${JSON.stringify(m)} (sandbox or insecure)`);
        inst.security = m as 'insecure' | 'sandbox';
      }
      if (flags.lists.mount !== undefined) inst.mounts = flags.lists.mount;
      return inst;
    }
    case 'CMD':
    case 'ENTRYPOINT':
      if (!node.json) atLeast(1);
      return { ...common, keyword, json: node.json, args: [...args] };
    case 'SHELL':
      if (!node.json) fail('INVALID_INSTRUCTION', 'SHELL requires the arguments to be in JSON form');
      atLeast(1);
      return { ...common, keyword, args: [...args] };
    case 'COPY':
    case 'ADD': {
      atLeast(2);
      const inst: CopyInstruction = {
        ...common,
        keyword,
        sources: args.slice(0, -1),
        dest: args[args.length - 1]!,
        json: node.json,
        link: flags.bools.link ?? false,
        heredocs: node.heredocs,
        exclude: flags.lists.exclude ?? [],
        parents: flags.bools.parents ?? false,
      };
      if (flags.strings.checksum !== undefined) inst.checksum = flags.strings.checksum;
      if (flags.bools['keep-git-dir'] !== undefined) inst.keepGitDir = flags.bools['keep-git-dir'];
      if (flags.bools.unpack !== undefined) inst.unpack = flags.bools.unpack;
      if (flags.strings.from !== undefined) inst.from = flags.strings.from;
      if (flags.strings.chown !== undefined) inst.chown = flags.strings.chown;
      if (flags.strings.chmod !== undefined) inst.chmod = flags.strings.chmod;
      return inst;
    }
    case 'WORKDIR':
    case 'USER':
    case 'STOPSIGNAL':
    case 'MAINTAINER':
      if (args.length !== 1 || args[0] === '') fail('INVALID_INSTRUCTION', `${keyword} requires exactly one argument`);
      return { ...common, keyword, value: args[0]! };
    case 'EXPOSE':
      atLeast(1);
      return { ...common, keyword, ports: [...args] };
    case 'VOLUME':
      atLeast(1);
      return { ...common, keyword, paths: [...args] };
    case 'HEALTHCHECK':
      return healthcheck(node, common, flags.strings, fail);
    case 'ONBUILD': {
      if (!node.sub) fail('INVALID_INSTRUCTION', 'ONBUILD requires at least one argument');
      const sub = node.sub!;
      const subKeyword = sub.keyword.toUpperCase();
      if (subKeyword === 'ONBUILD') fail('INVALID_INSTRUCTION', 'Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed');
      if (subKeyword === 'FROM' || subKeyword === 'MAINTAINER') fail('INVALID_INSTRUCTION', `${subKeyword} isn't allowed as an ONBUILD trigger`);
      const trigger = toInstruction(sub, file);
      const expression = node.original.replace(/^\s*ONBUILD\s*/i, '');
      return { ...common, keyword, expression, trigger };
    }
  }
  return fail('UNKNOWN_INSTRUCTION', `unknown instruction: ${node.keyword}`);
}

function healthcheck(
  node: ParsedNode,
  common: Common,
  flags: Record<string, string>,
  fail: (code: string, message: string) => never,
): HealthcheckInstruction {
  const args = node.args;
  if (args.length === 0) fail('INVALID_INSTRUCTION', 'HEALTHCHECK requires at least one argument');
  const typ = args[0]!.toUpperCase();
  if (typ === 'NONE') {
    if (args.length > 1) fail('INVALID_INSTRUCTION', 'HEALTHCHECK NONE takes no arguments');
    if (Object.keys(flags).length > 0) fail('INVALID_INSTRUCTION', 'HEALTHCHECK NONE takes no options');
    return { ...common, keyword: 'HEALTHCHECK', test: ['NONE'] };
  }
  if (typ !== 'CMD') fail('INVALID_INSTRUCTION', `Unknown type ${JSON.stringify(typ)} in HEALTHCHECK (try CMD)`);
  if (args.length < 2) fail('INVALID_INSTRUCTION', 'Missing command after HEALTHCHECK CMD');
  const test = node.json ? ['CMD', ...args.slice(1)] : ['CMD-SHELL', args[1]!];
  const inst: HealthcheckInstruction = { ...common, keyword: 'HEALTHCHECK', test };
  const durations: [string, 'interval' | 'timeout' | 'startPeriod' | 'startInterval'][] = [
    ['interval', 'interval'],
    ['timeout', 'timeout'],
    ['start-period', 'startPeriod'],
    ['start-interval', 'startInterval'],
  ];
  for (const [flag, field] of durations) {
    const text = flags[flag];
    if (text === undefined) continue;
    const ns = parseGoDuration(text);
    if (ns === null) fail('INVALID_FLAG', `HEALTHCHECK --${flag}: invalid duration ${JSON.stringify(text)}`);
    if (ns! < 0 || (ns! > 0 && ns! < 1e6)) fail('INVALID_FLAG', `HEALTHCHECK --${flag} cannot be less than 1ms`);
    inst[field] = ns!;
  }
  if (flags.retries !== undefined) {
    const n = Number(flags.retries);
    if (!/^-?\d+$/.test(flags.retries)) fail('INVALID_FLAG', `HEALTHCHECK --retries: invalid number ${JSON.stringify(flags.retries)}`);
    if (n < 0) fail('INVALID_FLAG', 'HEALTHCHECK --retries cannot be negative');
    inst.retries = n;
  }
  return inst;
}
