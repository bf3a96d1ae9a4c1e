/**
 * WWW-Authenticate challenges (RFC 7235): `Bearer realm="https://auth.example/token",service="reg",scope="…"`
 * and `Basic realm="…"`. A header may hold several challenges; we keep every one we understand.
 */
export interface Challenge {
  scheme: 'bearer' | 'basic';
  params: Record<string, string>;
}

export function parseChallenges(header: string | string[] | undefined): Challenge[] {
  if (header === undefined) return [];
  const text = Array.isArray(header) ? header.join(', ') : header;
  const out: Challenge[] = [];
  let i = 0;
  let cur: Challenge | undefined;
  const skipWs = () => {
    while (i < text.length && /[\s,]/.test(text[i]!)) i++;
  };
  while (i < text.length) {
    skipWs();
    const m = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+/.exec(text.slice(i));
    if (!m) break;
    const word = m[0];
    i += word.length;
    while (i < text.length && text[i] === ' ') i++;
    if (text[i] === '=') {
      // a parameter of the current challenge
      i++;
      let value = '';
      if (text[i] === '"') {
        i++;
        while (i < text.length && text[i] !== '"') {
          if (text[i] === '\\' && i + 1 < text.length) i++;
          value += text[i];
          i++;
        }
        i++;
      } else {
        const v = /^[^,\s]*/.exec(text.slice(i))![0];
        value = v;
        i += v.length;
      }
      if (cur) cur.params[word.toLowerCase()] = value;
      continue;
    }
    const scheme = word.toLowerCase();
    cur = scheme === 'bearer' || scheme === 'basic' ? { scheme, params: {} } : undefined;
    if (cur) out.push(cur);
  }
  return out;
}
