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

  const visit = (digest: Digest, from?: Digest): Vertex => {
    const done = byDigest.get(digest);
    if (done) return done;
    if (visiting.has(digest)) throw invalid(`cycle through op ${digest}`);
    const op = def.ops[digest];
    if (!op) throw invalid(from ? `op ${from} refers to missing input ${digest}` : `output op ${digest} is missing`);
    visiting.add(digest);
    const inputs = op.inputs.map((d) => visit(d, digest));
    visiting.delete(digest);
    const metadata = def.metadata[digest] ?? { description: digest.slice(0, 19) };
    const v: Vertex = { digest, op, metadata, inputs };
    byDigest.set(digest, v);
    order.push(v);
    return v;
  };

  const output = visit(def.output);
  return { output, vertices: order };
}

function invalid(msg: string): TsbuildError {
  return new TsbuildError('INVALID_DEFINITION', `invalid build definition: ${msg}`);
}
