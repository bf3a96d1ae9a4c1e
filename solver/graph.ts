import { TsbuildError } from '../src/errors.js';
import type { Definition, Digest } from '../src/llb/types.js';
import type { Vertex } from './types.js';

export interface Graph {
  /** The first output (`outputs[0]`). */
  output: Vertex;
  /** One vertex per definition solved together (a multi-platform build: one per platform), in order. */
  outputs: Vertex[];
  /** Every vertex reachable from an output, each once, inputs before dependents. */
  vertices: Vertex[];
}

/**
 * Vertices of the ops reachable from `def.output` (and from each of `more`'s outputs: definitions solved in
 * the same run share every vertex with the same digest, e.g. the context and a `FROM --platform=$BUILDPLATFORM`
 * stage of a multi-platform build); ops that are not reachable are ignored.
 * Throws INVALID_DEFINITION for a missing op or a cycle.
 */
export function buildGraph(def: Definition, more: Definition[] = []): Graph {
  const byDigest = new Map<Digest, Vertex>();
  const order: Vertex[] = [];
  for (const d of [def, ...more]) walk(d, byDigest, order);
  const outputs = [def, ...more].map((d) => byDigest.get(d.output)!);
  return { output: outputs[0]!, outputs, vertices: order };
}

function walk(def: Definition, byDigest: Map<Digest, Vertex>, order: Vertex[]): void {
  if (byDigest.has(def.output)) return;
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
}

function invalid(msg: string): TsbuildError {
  return new TsbuildError('INVALID_DEFINITION', `invalid build definition: ${msg}`);
}
