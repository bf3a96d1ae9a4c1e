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
    const digests = new Map<NodeId, Digest>();
    const ops: Record<Digest, Op> = {};
    const metadata: Record<Digest, OpMetadata> = {};
    const visit = (id: NodeId): Digest => {
      const known = digests.get(id);
      if (known) return known;
      const node = this.nodes[id]!;
      const inputs = node.inputs.map(visit);
      const op = { ...node.body, inputs } as Op;
      const digest = opDigest(op);
      digests.set(id, digest);
      if (!(digest in ops)) {
        ops[digest] = op;
        metadata[digest] = node.meta;
      }
      return digest;
    };
    const out = visit(output);
    return { version: 1, ops, metadata, output: out, image };
  }
}
