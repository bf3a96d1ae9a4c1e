/**
 * `--cpus -1`: Docker's flag parser takes the next word as a string flag's value even when it starts with a
 * dash; node:util parseArgs refuses it as "ambiguous". A negative number after a string option is joined to
 * it (`--cpus=-1`), so the flag's own validation answers with its usual message.
 */
export function joinNegativeValues(argv: string[], options: Record<string, { type: string }>): string[] {
  const stringFlags = new Set<string>();
  for (const [name, o] of Object.entries(options)) {
    if (o.type !== 'string') continue;
    stringFlags.add(`--${name}`);
  }
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const next = argv[i + 1];
    if (stringFlags.has(a) && next !== undefined && /^-\d/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}
