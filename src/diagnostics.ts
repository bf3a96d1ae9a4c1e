/**
 * Diagnostics never fail a build. Explaining a cache miss, writing step and rebuild memos, build checks,
 * progress rendering: each runs through `bestEffort`, which turns an internal error into one warning per
 * diagnostic name (with the stack when `TSBUILD_DEBUG=1`, which `--debug` sets) and gives the caller
 * `undefined` instead. The build's result never depends on a diagnostic.
 */

/** Where the warnings go (a build's progress, or stderr). */
export type WarnSink = (message: string) => void;

export class Diagnostics {
  private readonly reported = new Set<string>();

  constructor(
    private readonly warn: WarnSink,
    private readonly debug: boolean = process.env.TSBUILD_DEBUG === '1',
  ) {}

  /** fn's result, or undefined when it threw or rejected (then reported once per name). */
  async bestEffort<T>(name: string, fn: () => Promise<T> | T): Promise<T | undefined> {
    try {
      return await fn();
    } catch (err) {
      this.report(name, err);
      return undefined;
    }
  }

  /** The same for synchronous work. */
  bestEffortSync<T>(name: string, fn: () => T): T | undefined {
    try {
      return fn();
    } catch (err) {
      this.report(name, err);
      return undefined;
    }
  }

  /** Say once per name that a diagnostic failed; never throws (a failing sink is ignored). */
  report(name: string, err: unknown): void {
    if (this.reported.has(name)) return;
    this.reported.add(name);
    const e = err instanceof Error ? err : new Error(String(err));
    const where = this.debug && e.stack ? `\n${e.stack}` : ' (set TSBUILD_DEBUG=1 for details)';
    try {
      this.warn(`internal error in ${name}, ignored (the build result is not affected): ${e.message}${where}`);
    } catch {
      // nowhere left to say it
    }
  }
}

/** A warn sink that writes to stderr: for diagnostics that run where no progress sink is left. */
export const stderrWarn: WarnSink = (message) => {
  process.stderr.write(`WARNING: ${message}\n`);
};
