/**
 * The registration of every op kind's module (./op.ts is the interface). Its type makes a missing kind a
 * compile error: a new op or source kind in src/llb/types.ts needs a folder here and one line below.
 */
import { TsbuildError } from '../../src/errors.js';
import type { Layer } from '../../src/image/types.js';
import type { Op } from '../../src/llb/types.js';
import type { KeyFacts } from '../types.js';
import { execOp } from './exec/index.js';
import { fileOp } from './file/index.js';
import { gitOp } from './git/index.js';
import { httpOp } from './http/index.js';
import { imageOp } from './image/index.js';
import { localOp } from './local/index.js';
import { moduleOf, opKind, type OpModules } from './op.js';
import { scratchOp } from './scratch/index.js';

export const OP_MODULES: OpModules = {
  exec: execOp,
  file: fileOp,
  image: imageOp,
  local: localOp,
  scratch: scratchOp,
  http: httpOp,
  git: gitOp,
};

/** True for ops whose output is inputs[0] plus one layer of their own (exec, file); false for the start of a chain. */
export function isLayered(op: Op, modules: OpModules = OP_MODULES): boolean {
  return modules[opKind(op)].output === 'layer';
}

/** The layers an image whose layer chain starts at `op` (a source) begins with. */
export function baseLayersOf(op: Op, facts: KeyFacts, modules: OpModules = OP_MODULES): Layer[] {
  return moduleOf(modules, op, (m, o) => {
    if (m.output !== 'base') throw new TsbuildError('INTERNAL', `a ${m.kind} op does not start a layer chain`);
    return m.baseLayers(o, facts);
  });
}

/** True for ops whose output is never a snapshot (scratch, local sources): nothing to run, cache or report. */
export function isTrivial(op: Op, modules: OpModules = OP_MODULES): boolean {
  return modules[opKind(op)].trivial;
}
