/** BuildKit's `Node.Dump` s-expression form of parsed nodes (used by the conformance suite and for debugging). */
import { goQuote, goQuoteList } from './text.js';
import type { ParsedNode } from './types.js';

export function dumpNode(node: ParsedNode): string {
  let s = node.keyword.toLowerCase();
  if (node.flags.length > 0) s += ' ' + goQuoteList(node.flags);
  if (node.sub) s += ' (' + dumpNode(node.sub) + ')';
  for (const a of node.args) s += ' ' + goQuote(a);
  return s.trim();
}

/** One `(…)` line per node, joined by "\n" (no trailing newline). */
export function dumpNodes(nodes: readonly ParsedNode[]): string {
  return nodes.map((n) => '(' + dumpNode(n) + ')').join('\n');
}
