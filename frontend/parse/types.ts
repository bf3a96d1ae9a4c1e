/**
 * Parser output types. A `ParsedNode` is one Dockerfile instruction after line joining, with its
 * arguments split the way BuildKit's parser splits them (the shape its `Node.Dump` prints).
 * Lines are 1-based; `endLine` includes continuation lines and heredoc bodies.
 */
export interface Heredoc {
  /** The delimiter word, quotes removed (`<<"EOF"` → `EOF`). */
  name: string;
  /** The body, each line with its newline, without the terminator line. */
  content: string;
  /** `<<-`: leading tabs are stripped from body lines (and the terminator). */
  chomp: boolean;
  /** False when the delimiter was quoted: the body is taken literally. */
  expand: boolean;
  /** The file descriptor written before `<<` (0 when none). */
  fd: number;
}

export interface ParsedNode {
  /** The keyword as written (`run`, `RUN`). */
  keyword: string;
  /** Leading `--flag[=value]` words, quotes and escapes removed, in order. */
  flags: string[];
  /**
   * Argument values (BuildKit's `Next` chain): split per keyword (see the parser README);
   * ENV/LABEL as triples key, value, separator ("=" or "" for the old `KEY value` form).
   */
  args: string[];
  /** True when the arguments were a JSON string array (exec form). */
  json: boolean;
  /** The text after the keyword and flags, trimmed (the shell-form command line). */
  rest: string;
  /** ONBUILD's trigger instruction. */
  sub?: ParsedNode;
  heredocs: Heredoc[];
  /** The joined logical line (continuations removed). */
  original: string;
  startLine: number;
  endLine: number;
  /** The first physical line of the instruction, as written. */
  lineText: string;
}

export interface ParseWarning {
  message: string;
  line: number;
}

export interface ParseResult {
  nodes: ParsedNode[];
  /** The escape character in effect (`\` or `` ` ``). */
  escapeToken: string;
  /** The `# syntax=` directive, when present. */
  syntax?: string;
  /** The `# check=` directive's value, when present, and its line. */
  check?: { value: string; line: number };
  warnings: ParseWarning[];
}
