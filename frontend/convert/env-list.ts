/** An ordered KEY=VALUE list where setting an existing key replaces it in place (Docker's Env rules). */
export class EnvList {
  private readonly entries: [string, string][];
  constructor(initial: readonly string[] = []) {
    this.entries = [];
    for (const kv of initial) {
      const i = kv.indexOf('=');
      this.set(i < 0 ? kv : kv.slice(0, i), i < 0 ? '' : kv.slice(i + 1));
    }
  }
  set(key: string, value: string): void {
    const e = this.entries.find(([k]) => k === key);
    if (e) e[1] = value;
    else this.entries.push([key, value]);
  }
  get(key: string): string | undefined {
    return this.entries.find(([k]) => k === key)?.[1];
  }
  clone(): EnvList {
    const c = new EnvList();
    for (const [k, v] of this.entries) c.set(k, v);
    return c;
  }
  toArray(): string[] {
    return this.entries.map(([k, v]) => `${k}=${v}`);
  }
  lookup(): (name: string) => string | undefined {
    return (name) => this.get(name);
  }
}
