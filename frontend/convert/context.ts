/** Shared state of one conversion (Dockerfile → Definition) and of each stage being converted. */
import { DockerfileError, TsbuildError } from '../../src/errors.js';
import type { ImageConfig, Platform } from '../../src/image/types.js';
import type { OpMetadata } from '../../src/llb/types.js';
import type { FromInstruction, Instruction, InstructionLocation } from '../parse/instructions.js';
import { ShellExpansionError, type ShellLex } from '../shell/lex.js';
import { errorColumn } from '../parse/text.js';
import type { CheckSink } from '../checks/rules.js';
import type { BuildChecks } from '../checks/evaluated.js';
import type { Diagnostics } from '../../src/diagnostics.js';
import type { EnvList } from './env-list.js';
import type { GraphBuilder, NodeId } from './graph.js';
import type { FrontendInput, NamedContext, Warning } from './input.js';

export interface StageDef {
  index: number;
  /** Lowercased `AS` name, if any. */
  name?: string;
  from: FromInstruction;
  instructions: Instruction[];
}

/** One step that shows up in progress as `[stage i/n] TEXT`. */
export interface Step {
  text: string;
  meta: OpMetadata | null;
}

export interface StageState {
  def: StageDef;
  /** Label in descriptions: the name, `stage-N`, or "" for an unnamed target. */
  label: string;
  node: NodeId;
  /** The stage's platform (normalised): its `FROM --platform`, its parent stage's, or the target's. */
  platform: Platform;
  image: ImageConfig;
  /** The environment of RUN and of expansion: image Env plus ARG values. */
  env: EnvList;
  /** ARGs declared in this stage, in order (for RUN's history line). */
  args: { key: string; value?: string }[];
  cmdSet: boolean;
  steps: Step[];
}

export interface ResolvedImage {
  node: NodeId;
  ref: string;
  config: ImageConfig;
}

export interface Converter {
  input: FrontendInput;
  file: string;
  graph: GraphBuilder;
  lex: ShellLex;
  /** Report a build check (skipped rules are filtered by the caller's # check= directive). */
  lint: CheckSink;
  /** The build checks (FrontendInput.checks or BUILD_CHECKS); each call goes through `diagnostics`. */
  checks: BuildChecks;
  /** Build checks are diagnostics: one that throws is a warning, never a failed conversion. */
  diagnostics: Diagnostics;
  /** Every name declared by an ARG anywhere in the Dockerfile (never reported as undefined). */
  declaredArgs: Set<string>;
  /** Names declared by an ARG before the first FROM (and the predefined platform args). */
  globalArgs: Set<string>;
  /** The Dockerfile's escape character (`# escape=`). */
  escapeToken: string;
  warnings: Warning[];
  usedArgs: Set<string>;
  /** Converts (once) and returns a stage; used by FROM <stage> and COPY --from. */
  stage(index: number, from: InstructionLocation): Promise<StageState>;
  /** Find a stage by (case-insensitive) name or by index, or undefined. */
  findStage(ref: string): StageDef | undefined;
  /** Every stage's name (unnamed stages left out), for messages. */
  stageNames(): string[];
  /** Resolve an image for a platform into an image source node (cached). */
  image(ref: string, loc: InstructionLocation, stageLabel: string, platform?: Platform): Promise<ResolvedImage>;
  /** A local source node (one per name; the build context when no name is given); records the paths used. */
  context(paths: string[], named?: { name: string; source: string; excludePatterns: string[] }): NodeId;
  /** The `--build-context` that FROM/COPY --from/RUN --mount from= NAME refers to, if any (see FrontendInput.namedContexts). */
  namedContext(name: string): { name: string; context: NamedContext } | undefined;
  /** Proxy build args passed to RUN without an ARG. */
  proxyEnv: string[];
}

export function fail(loc: InstructionLocation, code: string, message: string, cause?: unknown, needle?: string): never {
  throw new DockerfileError(
    code,
    message,
    { file: loc.file, line: loc.startLine, column: errorColumn(loc.lineText, needle), lineText: loc.lineText },
    cause === undefined ? {} : cause instanceof TsbuildError && cause.hint !== undefined ? { cause, hint: cause.hint } : { cause },
  );
}

/**
 * Expand one word with the stage's environment; expansion errors become DockerfileErrors. Variables
 * that are not set (and not declared by any ARG, and not used with a default like `${X:-d}`) are
 * reported as `rule` (UndefinedVar; UndefinedArgInFrom for FROM; null: not reported).
 */
export function expandWord(
  c: Converter,
  env: (name: string) => string | undefined,
  word: string,
  loc: InstructionLocation,
  rule: 'UndefinedVar' | 'UndefinedArgInFrom' | null = 'UndefinedVar',
): string {
  let lookup = env;
  if (rule !== null && word.includes('$')) {
    const withDefault = new Set([...word.matchAll(/\$\{(\w+):?[-+?]/g)].map((m) => m[1]!));
    lookup = (name) => {
      const v = env(name);
      if (v === undefined && !withDefault.has(name)) {
        c.diagnostics.bestEffortSync(`build check ${rule}`, () => c.checks.undefinedVar(name, rule, rule === 'UndefinedVar' ? c.declaredArgs : c.globalArgs, c.lint, loc));
      }
      return v;
    };
  }
  try {
    return c.lex.processWord(word, lookup);
  } catch (err) {
    if (err instanceof ShellExpansionError) fail(loc, 'EXPANSION_FAILED', err.message, err);
    throw err;
  }
}
