/** Reading a plain-progress build output: which steps hit the cache, and why the others missed. */
export interface StepOutcome {
  cached: boolean;
  miss: string[];
}

/** Steps of a plain-progress build output by instruction text (without the `[n/m]` prefix). */
export function parseSteps(out: string): Map<string, StepOutcome> {
  const names = new Map<string, string>();
  const steps = new Map<string, StepOutcome>();
  for (const line of out.split('\n')) {
    const m = /^#(\d+) (.*)$/.exec(line);
    if (!m) continue;
    const [, n, rest] = m as unknown as [string, string, string];
    if (!names.has(n)) {
      const name = rest.replace(/^\[[^\]]*\]\s*/, '');
      names.set(n, name);
      steps.set(name, { cached: false, miss: [] });
      continue;
    }
    const s = steps.get(names.get(n)!)!;
    if (rest === 'CACHED') s.cached = true;
    const miss = /^cache miss: (.*)$/.exec(rest);
    if (miss) s.miss.push(miss[1]!);
  }
  return steps;
}

