/** Shared state of one conversion (Dockerfile → Definition) and of each stage being converted. */
import { DockerfileError, TsbuildError } from '../../src/errors.js';
import type { ImageConfig } from '../../src/image/types.js';
import type { OpMetadata } from '../../src/llb/types.js';
import type { FromInstruction, Instruction, InstructionLocation } from '../parse/instructions.js';
import { ShellExpansionError, type ShellLex } from '../shell/lex.js';
import type { EnvList } from './env-list.js';
import type { GraphBuilder, NodeId } from './graph.js';
import type { FrontendInput, Warning } from './input.js';

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
  warnings: Warning[];
  usedArgs: Set<string>;
  /** Converts (once) and returns a stage; used by FROM <stage> and COPY --from. */
  stage(index: number, from: InstructionLocation): Promise<StageState>;
  /** Find a stage by (case-insensitive) name or by index, or undefined. */
  findStage(ref: string): StageDef | undefined;
  /** Resolve an image into an image source node (cached). */
  image(ref: string, loc: InstructionLocation, stageLabel: string): Promise<ResolvedImage>;
  /** The build context's local source node (one per build); records the paths used. */
  context(paths: string[]): NodeId;
  /** Proxy build args passed to RUN without an ARG. */
  proxyEnv: string[];
}

export function fail(loc: InstructionLocation, code: string, message: string, cause?: unknown): never {
  throw new DockerfileError(
    code,
    message,
    { file: loc.file, line: loc.startLine, lineText: loc.lineText },
    cause === undefined ? {} : cause instanceof TsbuildError && cause.hint !== undefined ? { cause, hint: cause.hint } : { cause },
  );
}

/** Expand one word with the stage's environment; expansion errors become DockerfileErrors. */
export function expandWord(c: Converter, env: (name: string) => string | undefined, word: string, loc: InstructionLocation): string {
  try {
    return c.lex.processWord(word, env);
  } catch (err) {
    if (err instanceof ShellExpansionError) fail(loc, 'EXPANSION_FAILED', err.message, err);
    throw err;
  }
}
