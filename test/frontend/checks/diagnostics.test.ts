/**
 * Build checks are diagnostics (src/diagnostics.ts): a check that throws (injected through
 * FrontendInput.checks: the real table with one check replaced) is one warning per check, and the
 * Definition is the one the real checks give. Would fail if Diagnostics.bestEffortSync rethrew, or if a
 * check were called outside it.
 */
import { describe, expect, it } from 'vitest';
import { BUILD_CHECKS, type BuildChecks } from '../../../frontend/checks/evaluated.js';
import { dockerfileToDefinition } from '../../../frontend/index.js';
import { frontendInput } from '../fake-images.js';

const DOCKERFILE = 'FROM busybox\nENV A=$NOPE\nWORKDIR /$MISSING\nCOPY a.log /a.log\nCOPY b.log /b.log\nCMD echo\n';
const convert = (checks?: BuildChecks) => dockerfileToDefinition({ ...frontendInput(DOCKERFILE, { excludePatterns: ['*.log'] }), ...(checks ? { checks } : {}) });
const boom = (): never => {
  throw new Error('boom');
};

describe('a build check that throws', () => {
  it.each(['undefinedVar', 'copyIgnoredFile', 'static'] as const)('%s: one warning, the same Definition', async (which) => {
    const real = await convert();
    expect(real.warnings.filter((w) => w.rule).map((w) => w.rule)).toEqual(expect.arrayContaining(['UndefinedVar', 'CopyIgnoredFile', 'JSONArgsRecommended']));
    const got = await convert({ ...BUILD_CHECKS, [which]: boom });
    expect(got.definition).toEqual(real.definition);
    const internal = got.warnings.filter((w) => /internal error in build check/.test(w.message));
    expect(internal, JSON.stringify(got.warnings)).toHaveLength(1);
    expect(internal[0]!.message).toContain('boom');
    // The other checks still report.
    const rules = new Set(got.warnings.flatMap((w) => (w.rule ? [w.rule] : [])));
    if (which !== 'undefinedVar') expect(rules.has('UndefinedVar')).toBe(true);
    if (which !== 'copyIgnoredFile') expect(rules.has('CopyIgnoredFile')).toBe(true);
  });
});
