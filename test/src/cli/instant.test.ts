/**
 * Help texts and the version answered without a command module (src/cli/instant.ts): what main() prints for
 * them, and nothing for what main() must decide (unknown topics, the version in the tsc output, builds).
 */
import { describe, expect, it } from 'vitest';
import { instantAnswer } from '../../../src/cli/instant.js';
import { BUILD_HELP, COMMAND_HELP, MAIN_HELP } from '../../../src/cli/help.js';

describe('instantAnswer', () => {
  it('answers the help forms with their texts and exit codes', () => {
    expect(instantAnswer([])).toEqual({ text: MAIN_HELP, code: 1 });
    for (const argv of [['--help'], ['-h'], ['help']]) expect(instantAnswer(argv)).toEqual({ text: MAIN_HELP, code: 0 });
    expect(instantAnswer(['help', 'build'])).toEqual({ text: BUILD_HELP, code: 0 });
    expect(instantAnswer(['help', 'b'])).toEqual({ text: BUILD_HELP, code: 0 });
    expect(instantAnswer(['build', '.', '--help'])).toEqual({ text: BUILD_HELP, code: 0 });
    for (const command of Object.keys(COMMAND_HELP)) {
      expect(instantAnswer(['help', command])).toEqual({ text: COMMAND_HELP[command], code: 0 });
      expect(instantAnswer([command, '-h'])).toEqual({ text: COMMAND_HELP[command], code: 0 });
    }
  });

  it('leaves to main() what it must decide', () => {
    expect(instantAnswer(['help', 'nope'])).toBeUndefined(); // main: "nope" is not a tsbuild command
    expect(instantAnswer(['help', 'toString'])).toBeUndefined(); // not an inherited property
    expect(instantAnswer(['--version'])).toBeUndefined(); // the tsc output: main reads package.json
    expect(instantAnswer(['.', '--help'])).toBeUndefined(); // main: is "." a context?
    expect(instantAnswer(['build', '.'])).toBeUndefined();
    expect(instantAnswer(['push', 'x'])).toBeUndefined();
    expect(instantAnswer(['-D', '--help'])).toBeUndefined(); // main strips -D first
  });
});
