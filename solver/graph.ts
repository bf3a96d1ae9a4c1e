import { TsbuildError } from '../src/errors.js';
import type { Definition, Digest } from '../src/llb/types.js';
import type { Vertex } from './types.js';

export interface Graph {
  output: Vertex;
  /** Every vertex reachable from the output, each once, inputs before dependents. */
  vertices: Vertex[];
}

/**
 * Vertices of the ops reachable from `def.output`; ops that are not reachable are ignored.
 * Throws INVALID_DEFINITION for a missing op or a cycle.
 */
export function buildGraph(def: Definition): Graph {
  const byDigest = new Map<Digest, Vertex>();
  const order: Vertex[] = [];
  const visiting = new Set<Digest>();

  // Iterative post-order walk (a chain of thousands of steps must not overflow the stack): a frame is
  // an op and how many of its inputs have been visited; an op becomes a vertex once all its inputs are.
  const root = def.ops[def.output];
  if (!root) throw invalid(`output op ${def.output} is missing`);
  const stack: { digest: Digest; next: number }[] = [{ digest: def.output, next: 0 }];
  visiting.add(def.output);
  while (stack.length > 0) {
    const frame = stack[stack.length - 1]!;
    const op = def.ops[frame.digest]!;
    if (frame.next < op.inputs.length) {
      const d = op.inputs[frame.next++]!;
      if (byDigest.has(d)) continue;
      if (visiting.has(d)) throw invalid(`cycle through op ${d}`);
      if (!def.ops[d]) throw invalid(`op ${frame.digest} refers to missing input ${d}`);
      visiting.add(d);
      stack.push({ digest: d, next: 0 });
      continue;
    }
    stack.pop();
    visiting.delete(frame.digest);
    const metadata = def.metadata[frame.digest] ?? { description: frame.digest.slice(0, 19) };
    const v: Vertex = { digest: frame.digest, op, metadata, inputs: op.inputs.map((d) => byDigest.get(d)!) };
    byDigest.set(frame.digest, v);
    order.push(v);
  }
  return { output: byDigest.get(def.output)!, vertices: order };
}

function invalid(msg: string): TsbuildError {
  return new TsbuildError('INVALID_DEFINITION', `invalid build definition: ${msg}`);
}
