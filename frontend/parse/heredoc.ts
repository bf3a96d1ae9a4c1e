/** Finding heredoc words (`<<EOF`, `<<-"EOF"`, `3<<EOF`) in an instruction line, as BuildKit does. */
import { ShellLex, type EnvLookup } from '../shell/lex.js';

const HEREDOC_WORD = /^(\d*)<<(-?)([^<]*)$/;
const noEnv: EnvLookup = () => undefined;

export interface HeredocStart {
  name: string;
  chomp: boolean;
  expand: boolean;
  fd: number;
}

/** Parse one word; null when it is not a heredoc start. Throws on a malformed delimiter. */
export function parseHeredocWord(word: string): HeredocStart | null {
  const m = HEREDOC_WORD.exec(word);
  if (!m) return null;
  const rest = m[3]!;
  if (rest.length === 0) return null;
  const words = new ShellLex({ skipUnsetEnv: true }).processWords(rest, noEnv);
  if (words.length !== 1) return null;
  const raw = new ShellLex({ skipUnsetEnv: true, rawQuotes: true }).processWords(rest, noEnv);
  const quotes = (s: string): number => (s.match(/['"]/g) ?? []).length;
  return {
    name: words[0]!,
    chomp: m[2] === '-',
    expand: quotes(words[0]!) === quotes(raw[0] ?? ''),
    fd: m[1] ? Number.parseInt(m[1], 10) : 0,
  };
}

/** Heredoc starts in a joined line, in order. */
export function heredocsFromLine(line: string): HeredocStart[] {
  let words: string[];
  try {
    words = new ShellLex({ rawQuotes: true, rawEscapes: true, skipUnsetEnv: true }).processWords(line, noEnv);
  } catch {
    words = [];
  }
  const out: HeredocStart[] = [];
  for (const w of words) {
    const h = parseHeredocWord(w);
    if (h) out.push(h);
  }
  return out;
}

/** `<<-` bodies: drop leading tabs from every line. */
export function chompHeredocContent(content: string): string {
  return content.replace(/^\t+/gm, '');
}
