/**
 * `RUN <<EOF` whose body starts with `#!`: as BuildKit does, the body becomes an executable file
 * (mode 0755) `/<name>` on a scratch filesystem, bind-mounted read-only at /dev/pipes/, and the step runs
 * `/dev/pipes/<name>` itself, so the kernel starts the interpreter the `#!` line names.
 */
import type { BindMountSpec, MkfileAction } from '../../src/llb/types.js';
import { chompHeredocContent, parseHeredocWord } from '../parse/heredoc.js';
import type { RunInstruction } from '../parse/instructions.js';
import { fail, type Converter } from './context.js';
import type { NodeId } from './graph.js';

export const PIPES_DIR = '/dev/pipes';

export interface HeredocScript {
  args: string[];
  node: NodeId;
}

export function shebangScript(c: Converter, inst: RunInstruction): HeredocScript | null {
  if (inst.json || inst.heredocs.length !== 1) return null;
  let single = false;
  try {
    single = parseHeredocWord(inst.args[0] ?? '') !== null;
  } catch {
    single = false;
  }
  const doc = inst.heredocs[0]!;
  const data = doc.chomp ? chompHeredocContent(doc.content) : doc.content;
  if (!single || !data.startsWith('#!')) return null;
  if (doc.name === '' || doc.name.includes('/') || doc.name === '.' || doc.name === '..') {
    fail(inst.loc, 'INVALID_HEREDOC', `heredoc name ${JSON.stringify(doc.name)} can not be used as a file name`, undefined, '<<');
  }
  const mkfile: MkfileAction = { action: 'mkfile', path: `/${doc.name}`, mode: 0o755, data };
  const scratch = c.graph.add({ type: 'source', source: { kind: 'scratch' } }, [], { description: '' });
  const node = c.graph.add({ type: 'file', actions: [mkfile] }, [scratch], { description: `[internal] heredoc ${doc.name}` });
  return { args: [`${PIPES_DIR}/${doc.name}`], node };
}

/** The read-only bind mount of the script's filesystem; `input` is its index in the exec op's inputs. */
export function scriptMount(input: number): BindMountSpec {
  return { type: 'bind', target: PIPES_DIR, input, source: '/', readonly: true };
}
