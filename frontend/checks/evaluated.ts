/**
 * The build checks that need evaluation, called by frontend/convert where their facts are known (a
 * variable lookup that found nothing, a COPY source the .dockerignore excludes), next to the static rules
 * (rules.ts). Each is a diagnostic: the converter runs it through Diagnostics (src/diagnostics.ts), so a
 * check that throws is one warning and the Definition is the same. The table can be replaced through
 * `FrontendInput.checks` (the tests inject throwing checks).
 */
import { DockerIgnoreMatcher } from '../../src/context/dockerignore.js';
import { hasWildcard } from '../../src/context/goglob.js';
import type { InstructionLocation } from '../parse/instructions.js';
import { staticChecks, type CheckSink } from './rules.js';

export interface BuildChecks {
  /** The rules that need only the parsed instructions (rules.ts). */
  static: typeof staticChecks;
  /** A variable `name` expanded in a word was not set: UndefinedVar (or UndefinedArgInFrom in FROM) unless declared. */
  undefinedVar(name: string, rule: 'UndefinedVar' | 'UndefinedArgInFrom', declared: ReadonlySet<string>, report: CheckSink, loc: InstructionLocation): void;
  /** CopyIgnoredFile for each named (non-wildcard) context source the .dockerignore patterns exclude. */
  copyIgnoredFile(keyword: 'COPY' | 'ADD', sources: readonly string[], excludePatterns: readonly string[], report: CheckSink, loc: InstructionLocation): void;
}

export const BUILD_CHECKS: BuildChecks = {
  static: staticChecks,
  undefinedVar(name, rule, declared, report, loc) {
    if (declared.has(name)) return;
    if (rule === 'UndefinedVar') report(rule, `Usage of undefined variable '$${name}'`, loc);
    else report(rule, `FROM argument '${name}' is not declared`, loc);
  },
  copyIgnoredFile(keyword, sources, excludePatterns, report, loc) {
    if (excludePatterns.length === 0) return;
    const matcher = new DockerIgnoreMatcher([...excludePatterns]);
    for (const r of sources) {
      if (r !== '.' && !hasWildcard(r) && matcher.explain(r).excluded) {
        report('CopyIgnoredFile', `Attempting to ${keyword === 'COPY' ? 'Copy' : 'Add'} file "${r}" that is excluded by .dockerignore`, loc);
      }
    }
  },
};
