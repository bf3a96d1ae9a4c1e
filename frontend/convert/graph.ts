/**
 * Collects ops with symbolic inputs, then computes digests bottom-up (so an op can still be edited,
 * e.g. the context's includePaths, until the end) and keeps only what the output reaches.
 */
import { opDigest } from '../../src/llb/digest.js';
import type { Definition, Digest, ExecOp, FileOp, Op, OpMetadata, SourceOp } from '../../src/llb/types.js';
import type { ImageConfig } from '../../src/image/types.js';

export type OpBody = Omit<SourceOp, 'inputs'> | Omit<ExecOp, 'inputs'> | Omit<FileOp, 'inputs'>;
export type NodeId = number;

interface GraphNode {
  body: OpBody;
  inputs: NodeId[];
  meta: OpMetadata;
}

export class GraphBuilder {
  private readonly nodes: GraphNode[] = [];

  add(body: OpBody, inputs: NodeId[], meta: OpMetadata): NodeId {
    this.nodes.push({ body, inputs, meta });
    return this.nodes.length - 1;
  }

  /** The mutable pieces of a node, for late edits (description, includePaths). */
  node(id: NodeId): { body: OpBody; meta: OpMetadata } {
    return this.nodes[id]!;
  }

  finalize(output: NodeId, image: ImageConfig): Definition {
    // Iterative (a chain of thousands of stages must not overflow the stack): mark what the output
    // reaches, then digest in id order; a node's inputs always have smaller ids (they were added first).
    const reached = new Set<NodeId>([output]);
    const todo = [output];
    while (todo.length > 0) {
      for (const i of this.nodes[todo.pop()!]!.inputs) {
        if (!reached.has(i)) {
          reached.add(i);
          todo.push(i);
        }
      }
    }
    const digests = new Map<NodeId, Digest>();
    const ops: Record<Digest, Op> = {};
    const metadata: Record<Digest, OpMetadata> = {};
    for (const id of [...reached].sort((a, b) => a - b)) {
      const node = this.nodes[id]!;
      const inputs = node.inputs.map((i) => digests.get(i)!);
      const op = { ...node.body, inputs } as Op;
      const digest = opDigest(op);
      digests.set(id, digest);
      if (!(digest in ops)) {
        ops[digest] = op;
        metadata[digest] = node.meta;
      }
    }
    return { version: 1, ops, metadata, output: digests.get(output)!, image };
  }
}
