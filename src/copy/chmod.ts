/**
 * `--chmod` values: octal ("755", "0644") or symbolic like chmod(1) ("u+x", "go-w,a+r", "u=rwX,o="),
 * comma-separated clauses `[ugoa]*([-+=]([rwxXst]*|[ugo]))+`. No umask applies (an empty "who" means
 * all). `X` sets execute only on directories and on files that already have an execute bit.
 */
import { ContextError } from '../errors.js';

/** New mode of an entry from its current mode (permission and set-id bits) and whether it is a directory. */
export type ModeFn = (mode: number, isDir: boolean) => number;

const CLAUSE = /^([ugoa]*)((?:[-+=](?:[rwxXst]*|[ugo]))+)$/;

/** True when `s` is a valid octal or symbolic mode. */
export function isValidModeSpec(s: string): boolean {
  if (/^[0-7]{1,4}$/.test(s)) return true;
  return s !== '' && s.split(',').every((c) => CLAUSE.test(c));
}

/** Parse a --chmod value. Throws ContextError BAD_CHMOD. */
export function parseModeSpec(s: string): ModeFn {
  if (/^[0-7]{1,4}$/.test(s)) {
    const m = parseInt(s, 8);
    return () => m;
  }
  if (!isValidModeSpec(s)) {
    throw new ContextError('BAD_CHMOD', `invalid --chmod value ${JSON.stringify(s)}: expected an octal mode (755) or a symbolic one (u+x,g-w)`);
  }
  const clauses = s.split(',').map((c) => {
    const m = CLAUSE.exec(c)!;
    const ops = [...m[2]!.matchAll(/([-+=])([ugo]|[rwxXst]*)/g)].map((o) => ({ op: o[1]!, perms: o[2]! }));
    return { who: m[1] === '' ? 'a' : m[1]!, ops };
  });
  return (mode, isDir) => {
    let cur = mode & 0o7777;
    for (const { who, ops } of clauses) {
      const u = who.includes('u') || who.includes('a');
      const g = who.includes('g') || who.includes('a');
      const o = who.includes('o') || who.includes('a');
      const mask = (u ? 0o4700 : 0) | (g ? 0o2070 : 0) | (o ? 0o0007 : 0) | (who.includes('a') || (u && g && o) ? 0o1000 : 0);
      for (const { op, perms } of ops) {
        let bits = 0;
        if (perms === 'u' || perms === 'g' || perms === 'o') {
          const shift = perms === 'u' ? 6 : perms === 'g' ? 3 : 0;
          const rwx = (cur >> shift) & 7;
          bits = (rwx << 6) | (rwx << 3) | rwx;
        } else {
          for (const p of perms) {
            if (p === 'r') bits |= 0o444;
            else if (p === 'w') bits |= 0o222;
            else if (p === 'x') bits |= 0o111;
            else if (p === 'X' && (isDir || (cur & 0o111) !== 0)) bits |= 0o111;
            else if (p === 's') bits |= 0o6000;
            else if (p === 't') bits |= 0o1000;
          }
        }
        bits &= mask;
        if (op === '+') cur |= bits;
        else if (op === '-') cur &= ~bits;
        else cur = (cur & ~(mask & 0o0777 | (u ? 0o4000 : 0) | (g ? 0o2000 : 0))) | bits;
      }
    }
    return cur;
  };
}
