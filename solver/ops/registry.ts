/**
 * The registration of every op kind's module (./op.ts is the interface). Its type makes a missing kind a
 * compile error: a new op or source kind in src/llb/types.ts needs a folder here and one line below.
 */
import type { Op } from '../../src/llb/types.js';
import { execOp } from './exec/index.js';
import { fileOp } from './file/index.js';
import { httpOp } from './http/index.js';
import { imageOp } from './image/index.js';
import { localOp } from './local/index.js';
import { opKind, type OpModules } from './op.js';
import { scratchOp } from './scratch/index.js';

export const OP_MODULES: OpModules = {
  exec: execOp,
  file: fileOp,
  image: imageOp,
  local: localOp,
  scratch: scratchOp,
  http: httpOp,
};

/** True for ops whose output is never a snapshot (scratch, local sources): nothing to run, cache or report. */
export function isTrivial(op: Op, modules: OpModules = OP_MODULES): boolean {
  return modules[opKind(op)].trivial;
}
