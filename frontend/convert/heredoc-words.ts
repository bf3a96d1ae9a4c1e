/** Whether a COPY/ADD source word is a heredoc start (`<<EOF`). */
import { parseHeredocWord } from '../parse/heredoc.js';

export function parseHeredocWordSafe(word: string): boolean {
  try {
    return parseHeredocWord(word) !== null;
  } catch {
    return false;
  }
}
