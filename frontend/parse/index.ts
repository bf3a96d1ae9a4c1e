/**
 * Dockerfile parsing: text → typed, validated instructions with 1-based locations.
 * `scanDockerfile` gives BuildKit-shaped nodes (see dump.ts); `parseDockerfile` validates them.
 */
import { DockerfileError } from '../../src/errors.js';
import { scanDockerfile } from './scan.js';
import { toInstruction, type Instruction } from './instructions.js';
import type { ParseWarning } from './types.js';

export type * from './types.js';
export type * from './instructions.js';
export { scanDockerfile } from './scan.js';
export { dumpNode, dumpNodes } from './dump.js';
export { chompHeredocContent } from './heredoc.js';
export { toInstruction } from './instructions.js';

export interface ParsedDockerfile {
  instructions: Instruction[];
  escapeToken: string;
  syntax?: string;
  check?: { value: string; line: number };
  warnings: ParseWarning[];
}

/** Parse and validate a Dockerfile. Throws DockerfileError (code and location) on the first problem. */
export function parseDockerfile(text: string, file: string): ParsedDockerfile {
  const scanned = scanDockerfile(text, file);
  const instructions = scanned.nodes.map((n) => toInstruction(n, file));
  if (instructions.length === 0) {
    throw new DockerfileError('NO_INSTRUCTIONS', 'the Dockerfile has no instructions', { file, line: 1, column: 1, lineText: '' });
  }
  const out: ParsedDockerfile = { instructions, escapeToken: scanned.escapeToken, warnings: scanned.warnings };
  if (scanned.syntax !== undefined) out.syntax = scanned.syntax;
  if (scanned.check !== undefined) out.check = scanned.check;
  return out;
}
