/**
 * Build checks (BuildKit's `docker build --check` rules) that need only the parsed instructions.
 * The ones that need evaluation (UndefinedVar, UndefinedArgInFrom, CopyIgnoredFile) are reported by
 * frontend/convert as it expands words; all go through `CheckSink`.
 * Rule names and messages follow BuildKit's (docs.docker.com/reference/build-checks/).
 */
import type { Instruction, InstructionLocation } from '../parse/instructions.js';

export type RuleName =
  | 'JSONArgsRecommended'
  | 'UndefinedVar'
  | 'UndefinedArgInFrom'
  | 'CopyIgnoredFile'
  | 'DuplicateStageName'
  | 'ConsistentInstructionCasing'
  | 'WorkdirRelativePath'
  | 'MaintainerDeprecated'
  | 'SecretsUsedInArgOrEnv'
  | 'StageNameCasing'
  | 'FromAsCasing';

export type CheckSink = (rule: RuleName, message: string, loc: InstructionLocation) => void;

/** BuildKit's token list: a name part (split at `_`) that is one of these marks a secret; "public" does not. */
const SECRET = /(?:^|_)(?:apikey|auth|credential|credentials|key|password|pword|passwd|secret|token)(?:_|$)/i;
const NOT_SECRET = /(?:^|_)public(?:_|$)/i;

function keywordAsWritten(inst: Instruction): string {
  return /^\S+/.exec(inst.original)?.[0] ?? inst.keyword;
}

export function isSecretName(name: string): boolean {
  return SECRET.test(name) && !NOT_SECRET.test(name);
}

/** Run the static rules over every instruction (ONBUILD triggers included). */
export function staticChecks(instructions: readonly Instruction[], report: CheckSink): void {
  // Casing: compare each keyword with the majority (ties go to upper case, as BuildKit).
  let upper = 0;
  let lower = 0;
  for (const inst of instructions) {
    const kw = keywordAsWritten(inst);
    if (kw === kw.toUpperCase()) upper++;
    else if (kw === kw.toLowerCase()) lower++;
  }
  const majorityLower = lower > upper;
  const seenStages = new Set<string>();
  let workdirSet = false;
  let shellSet = false;
  for (const inst of instructions) {
    const kw = keywordAsWritten(inst);
    const isUpper = kw === kw.toUpperCase();
    const isLower = kw === kw.toLowerCase();
    if (!isUpper && !isLower) report('ConsistentInstructionCasing', `Command '${kw}' should be consistently cased`, inst.loc);
    else if (majorityLower ? isUpper : isLower) {
      report('ConsistentInstructionCasing', `Command '${kw}' should match the case of the command majority (${majorityLower ? 'lowercase' : 'uppercase'})`, inst.loc);
    }
    switch (inst.keyword) {
      case 'FROM': {
        workdirSet = false;
        shellSet = false;
        if (inst.stageName !== undefined) {
          const m = /\s(as)\s+(\S+)\s*$/i.exec(inst.original);
          const asWord = m?.[1];
          const written = m?.[2] ?? inst.stageName;
          if (written !== written.toLowerCase()) report('StageNameCasing', `Stage name '${written}' should be lowercase`, inst.loc);
          if (asWord && ((isUpper && asWord !== asWord.toUpperCase()) || (isLower && asWord !== asWord.toLowerCase()))) {
            report('FromAsCasing', `'${asWord}' and '${kw}' keywords' casing do not match`, inst.loc);
          }
          if (seenStages.has(inst.stageName)) report('DuplicateStageName', `Duplicate stage name "${inst.stageName}", stage names should be unique`, inst.loc);
          seenStages.add(inst.stageName);
        }
        break;
      }
      case 'MAINTAINER':
        report('MaintainerDeprecated', 'Maintainer instruction is deprecated in favor of using label', inst.loc);
        break;
      case 'SHELL':
        shellSet = true;
        break;
      case 'CMD':
      case 'ENTRYPOINT':
        if (!inst.json && !shellSet) {
          report('JSONArgsRecommended', `JSON arguments recommended for ${inst.keyword} to prevent unintended behavior related to OS signals`, inst.loc);
        }
        break;
      case 'WORKDIR':
        if (inst.value.startsWith('/') || inst.value.startsWith('$')) workdirSet = true;
        else if (!workdirSet) report('WorkdirRelativePath', `Relative workdir "${inst.value}" can have unexpected results if the base image changes`, inst.loc);
        break;
      case 'ARG':
        for (const a of inst.args) if (isSecretName(a.key)) report('SecretsUsedInArgOrEnv', `Do not use ARG or ENV instructions for sensitive data (ARG "${a.key}")`, inst.loc);
        break;
      case 'ENV':
        for (const p of inst.pairs) if (isSecretName(p.key)) report('SecretsUsedInArgOrEnv', `Do not use ARG or ENV instructions for sensitive data (ENV "${p.key}")`, inst.loc);
        break;
      case 'ONBUILD':
        staticChecks([inst.trigger], (rule, message, loc) => {
          if (rule !== 'ConsistentInstructionCasing') report(rule, message, loc);
        });
        break;
    }
  }
}

/** `# check=skip=A,B;error=true` (or skip=all). */
export interface CheckConfig {
  skip: Set<string>;
  skipAll: boolean;
  error: boolean;
}

export function parseCheckDirective(value: string | undefined): CheckConfig | string {
  const cfg: CheckConfig = { skip: new Set(), skipAll: false, error: false };
  if (value === undefined) return cfg;
  for (const part of value.split(';')) {
    const p = part.trim();
    if (p === '') continue;
    const eq = p.indexOf('=');
    if (eq < 0) return `invalid check directive part ${JSON.stringify(p)}: expected skip=... or error=true|false`;
    const k = p.slice(0, eq).trim().toLowerCase();
    const v = p.slice(eq + 1).trim();
    if (k === 'skip') {
      for (const r of v.split(',').map((x) => x.trim()).filter(Boolean)) {
        if (r.toLowerCase() === 'all') cfg.skipAll = true;
        else cfg.skip.add(r);
      }
    } else if (k === 'error') {
      if (!/^(true|false)$/i.test(v)) return `invalid check directive: error=${v} (expected true or false)`;
      cfg.error = v.toLowerCase() === 'true';
    } else {
      return `invalid check directive key ${JSON.stringify(k)} (expected skip or error)`;
    }
  }
  return cfg;
}
