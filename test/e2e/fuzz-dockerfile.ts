/**
 * A seeded generator of small Dockerfiles for the store-state fuzz test (./store-fuzz.test.ts): FROM (scratch,
 * the local busybox base, earlier stages), WORKDIR, COPY (context files, --from stages and the base image,
 * --chmod, --chown), RUN (mkdir, echo, cp), ENV, ARG, USER, multi-stage. It keeps a model of each stage's
 * files, shell and user, so it knows which Dockerfiles must build; a few are made invalid on purpose
 * (a missing context file, a missing path in a stage, a failing command, RUN without a shell) and say so.
 */

/** The build context every generated Dockerfile uses (files and modes; mtimes are fixed by the test). */
export const CONTEXT_FILES: Record<string, { data: string; mode: number }> = {
  'a.txt': { data: 'a\n', mode: 0o644 },
  'b.txt': { data: 'bee\n', mode: 0o755 },
  'dir/c.txt': { data: 'c\n', mode: 0o600 },
  'dir/sub/d.txt': { data: 'd\n', mode: 0o644 },
};

/** COPY sources from the context and the files each puts under a destination directory. */
const CONTEXT_SOURCES: [string, string[]][] = [
  ['a.txt', ['a.txt']],
  ['b.txt', ['b.txt']],
  ['dir', ['c.txt', 'sub/d.txt']],
  ['dir/sub/d.txt', ['d.txt']],
  ['*.txt', ['a.txt', 'b.txt']],
];

export interface GeneratedDockerfile {
  text: string;
  /** Whether it must build; when not, why it must fail. */
  valid: boolean;
  invalidBecause?: string;
}

/** mulberry32: a small seeded PRNG. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Stage {
  name: string;
  shell: boolean;
  /** Absolute paths of regular files known to exist. */
  files: string[];
  workdir: string;
  /** "" (root), "nobody" or a numeric uid. */
  user: string;
  args: string[];
}

export class DockerfileGenerator {
  private readonly rnd: () => number;
  private n = 0;

  constructor(seed: number) {
    this.rnd = prng(seed);
  }

  private pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.rnd() * xs.length)]!;
  }

  private chance(p: number): boolean {
    return this.rnd() < p;
  }

  private uniq(): string {
    return (this.n++).toString(36);
  }

  next(): GeneratedDockerfile {
    const lines: string[] = [];
    const stages: Stage[] = [];
    const count = this.pick([1, 1, 2, 2, 3]);
    let runs = 0;
    for (let s = 0; s < count; s++) {
      const last = s === count - 1;
      const name = `s${s}`;
      const from = this.pick(['busybox', 'busybox', 'scratch', ...(stages.length ? ['stage'] : [])]);
      let st: Stage;
      if (from === 'stage') {
        const base = this.pick(stages);
        st = { ...base, name, files: [...base.files], args: [] };
        lines.push(`FROM ${base.name}${last && this.chance(0.5) ? '' : ` AS ${name}`}`);
      } else {
        st = { name, shell: from === 'busybox', files: from === 'busybox' ? ['/bin/busybox', '/etc/passwd', '/etc/group'] : [], workdir: '/', user: '', args: [] };
        lines.push(`FROM ${from}${last && this.chance(0.5) ? '' : ` AS ${name}`}`);
      }
      const steps = 1 + Math.floor(this.rnd() * 4);
      for (let i = 0; i < steps; i++) {
        const kind = this.pick(['WORKDIR', 'COPY', 'COPY', 'COPYFROM', 'RUN', 'ENV', 'ARG', 'USER']);
        if (kind === 'RUN' && (!st.shell || runs >= 2 || this.chance(0.4))) continue;
        if (kind === 'COPYFROM' && stages.length === 0 && this.chance(0.5)) continue;
        lines.push(this.instruction(kind, st, stages));
        if (kind === 'RUN') runs++;
      }
      stages.push(st);
    }
    // About one in eight is invalid on purpose, in the target stage (the one that is surely built).
    if (this.chance(0.125)) {
      const target = stages.at(-1)!;
      const why = this.pick(['missing context file', 'missing path in a stage', 'failing command', 'RUN without a shell'] as const);
      if (why === 'missing context file') lines.push(`COPY missing-${this.uniq()}.txt /m/`);
      else if (why === 'missing path in a stage') lines.push(`COPY --from=${this.pick([...stages.slice(0, -1).map((x) => x.name), 'busybox'])} /no/such/${this.uniq()} /m/`);
      else if (why === 'failing command' && target.shell) lines.push(`RUN exit 3`);
      else if (!target.shell) lines.push(`RUN echo ${this.uniq()}`);
      else lines.push(`RUN exit 3`);
      const because = why === 'failing command' || why === 'RUN without a shell' ? (target.shell ? 'failing command' : 'RUN without a shell') : why;
      return { text: lines.join('\n') + '\n', valid: false, invalidBecause: because };
    }
    return { text: lines.join('\n') + '\n', valid: true };
  }

  private instruction(kind: string, st: Stage, earlier: Stage[]): string {
    switch (kind) {
      case 'WORKDIR': {
        const p = this.pick(['/a/b/c', '/w', '/app', '/srv/x', 'rel', '/a']);
        st.workdir = p.startsWith('/') ? p : `${st.workdir.replace(/\/$/, '')}/${p}`;
        return `WORKDIR ${p}`;
      }
      case 'COPY': {
        const [src, files] = this.pick(CONTEXT_SOURCES);
        const dest = this.pick(['/c/', '/c/d/', '/app/', 'here/']);
        const abs = dest.startsWith('/') ? dest : `${st.workdir.replace(/\/$/, '')}/${dest}`;
        const flags = [
          ...(this.chance(0.3) ? [`--chmod=${this.pick(['755', '0640', 'u+x', 'go-r'])}`] : []),
          ...(this.chance(0.3) ? [`--chown=${this.pick(['1000:1000', '65534', '0:0'])}`] : []),
        ];
        st.files.push(...files.map((f) => abs + f));
        return `COPY ${[...flags, src, dest].join(' ')}`;
      }
      case 'COPYFROM': {
        const sources = [...earlier.filter((e) => e.files.length > 0), null];
        const from = this.pick(sources);
        const fromName = from ? from.name : 'busybox';
        const file = from ? this.pick(from.files) : this.pick(['/bin/busybox', '/etc/passwd', '/etc/group', '/etc/passwd']);
        const base = file.slice(file.lastIndexOf('/') + 1);
        const dest = `/from-${fromName}/`;
        st.files.push(dest + base);
        return `COPY ${this.chance(0.3) ? '--chown=1000:1000 ' : ''}--from=${fromName} ${file} ${dest}`;
      }
      case 'RUN': {
        const root = st.user === '';
        const dir = root ? `/r${this.uniq()}` : `/tmp/r${this.uniq()}`;
        // [command, the file it makes]; the first makes the directory the others write into.
        const cmds: [string, string | undefined][] = [[`mkdir -p ${dir}/x`, undefined], [`echo ${this.uniq()} > ${dir}/f`, `${dir}/f`]];
        const readable = st.files.filter((f) => root || f.startsWith('/bin/') || f.startsWith('/etc/'));
        if (readable.length && this.chance(0.5)) cmds.push([`cp ${this.pick(readable)} ${dir}/copied`, `${dir}/copied`]);
        if (st.args.length && this.chance(0.5)) cmds.push([`echo "$${this.pick(st.args)}" > ${dir}/arg`, `${dir}/arg`]);
        const chosen = cmds.slice(0, 1 + Math.floor(this.rnd() * cmds.length));
        for (const [, made] of chosen) if (made) st.files.push(made);
        return `RUN ${chosen.map(([c]) => c).join(' && ')}`;
      }
      case 'ENV':
        return `ENV ${this.pick(['A', 'B', 'PATH_EXTRA'])}=${this.pick(['1', 'two', 'x y'].map((v) => (v.includes(' ') ? `"${v}"` : v)))}`;
      case 'ARG': {
        const k = this.pick(['V', 'W']);
        if (!st.args.includes(k)) st.args.push(k);
        return `ARG ${k}=${this.pick(['1', 'v2'])}`;
      }
      default: {
        // USER by name needs /etc/passwd for a later RUN; numeric ids never do.
        const u = this.pick(st.files.includes('/etc/passwd') ? ['nobody', '1000', '0'] : ['1000', '0']);
        st.user = u === '0' ? '' : u;
        return `USER ${u}`;
      }
    }
  }
}
