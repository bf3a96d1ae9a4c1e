/**
 * Applies one instruction (other than FROM) to a stage: updates the image config, the RUN
 * environment and history, and adds ExecOps/FileOps to the graph.
 */
import type { ExecOp, MkdirAction } from '../../src/llb/types.js';
import type { HealthConfig, Platform } from '../../src/image/types.js';
import { platformMatches, specPlatform } from '../../src/image/platform.js';
import { chompHeredocContent } from '../parse/heredoc.js';
import { parseHeredocWord } from '../parse/heredoc.js';
import type { Instruction, InstructionLocation, RunInstruction } from '../parse/instructions.js';
import { goQuoteList } from '../parse/text.js';
import { expandWord, fail, type Converter, type StageState } from './context.js';
import { dispatchCopy, parseChown } from './copy.js';
import { commitHistory, goHealthcheck, goList, goPortSet, setEnv } from './image-config.js';
import { joinPath } from './paths.js';
import { cleanSlashPath } from '../../src/fsutil/slashpath.js';
import { PortError, parsePortSpec } from './ports.js';
import { runMounts } from './run-mount.js';
import { scriptMount, shebangScript } from './heredoc-script.js';
import { PROXY_ARGS } from '../../src/llb/proxy-args.js';

const DEFAULT_SHELL = ['/bin/sh', '-c'];
const PROXY_KEYS = new Set(PROXY_ARGS);

function shell(s: StageState): string[] {
  return s.image.config.Shell && s.image.config.Shell.length > 0 ? [...s.image.config.Shell] : [...DEFAULT_SHELL];
}

function stageTag(s: StageState): string {
  return s.def.name ?? String(s.def.index);
}

function location(loc: InstructionLocation): { file: string; line: number; endLine: number } {
  return { file: loc.file, line: loc.startLine, endLine: loc.endLine };
}

/** `[ARG values] args` as BuildKit writes RUN into history: `|2 A=1 B=2 /bin/sh -c make`. */
function runHistory(s: StageState, args: string[]): string {
  const seen = new Map<string, number>();
  const pairs: string[] = [];
  for (const a of s.args) {
    if (PROXY_KEYS.has(a.key)) continue; // proxy values never reach history (nor cache keys)
    const v = s.env.get(a.key) ?? a.value ?? '';
    const kv = `${a.key}=${v}`;
    const i = seen.get(a.key);
    if (i !== undefined) pairs[i] = kv;
    else {
      seen.set(a.key, pairs.length);
      pairs.push(kv);
    }
  }
  const prefix = pairs.length > 0 ? [`|${pairs.length}`, ...pairs] : [];
  return [...prefix, ...args].join(' ');
}

function runArgs(s: StageState, inst: RunInstruction): string[] {
  if (inst.json) return [...inst.args];
  const text = inst.args[0] ?? '';
  if (inst.heredocs.length === 0) return [...shell(s), text];
  const single = inst.heredocs.length === 1 ? safeHeredoc(text) : null;
  if (single) {
    const doc = inst.heredocs[0]!;
    return [...shell(s), doc.chomp ? chompHeredocContent(doc.content) : doc.content];
  }
  let full = text;
  for (const doc of inst.heredocs) full += '\n' + doc.content + doc.name;
  return [...shell(s), full];
}

function safeHeredoc(word: string): boolean {
  try {
    return parseHeredocWord(word) !== null;
  } catch {
    return false;
  }
}

async function dispatchRun(c: Converter, s: StageState, inst: RunInstruction, x: (w: string) => string): Promise<void> {
  const script = shebangScript(c, inst); // RUN <<EOF with a #! line: run the heredoc as a file
  const args = script ? script.args : runArgs(s, inst);
  const cwd = cleanSlashPath(s.image.config.WorkingDir || '/');
  let mounts = inst.mounts && inst.mounts.length > 0 ? await runMounts(c, s, inst, x, cwd) : undefined;
  if (script) {
    const inputs = [...(mounts?.inputs ?? []), script.node];
    mounts = { ...mounts, mounts: [...(mounts?.mounts ?? []), scriptMount(inputs.length)], inputs };
  }
  const op: Omit<ExecOp, 'inputs'> = {
    type: 'exec',
    args,
    env: [...s.env.toArray(), ...c.proxyEnv.filter((kv) => s.env.get(kv.slice(0, kv.indexOf('='))) === undefined)],
    cwd,
    user: s.image.config.User ?? '',
    network: (inst.network as ExecOp['network'] | undefined) ?? 'default',
    ...(inst.security === 'insecure' ? { security: 'insecure' as const } : {}),
    ...(mounts ? { mounts: mounts.mounts } : {}),
    ...foreignPlatform(c, s),
  };
  s.node = c.graph.add(op, [s.node, ...(mounts?.inputs ?? [])], { description: '', stage: stageTag(s), location: location(inst.loc) });
  s.steps.push({ text: inst.original, meta: c.graph.node(s.node).meta });
  commitHistory(s.image, `RUN ${runHistory(s, args)} # buildkit`, true);
}

/** A RUN of a stage whose platform the build host does not run natively names it (its key and emulation depend on it). */
function foreignPlatform(c: Converter, s: StageState): { platform?: Platform } {
  const build = c.input.buildPlatform ?? c.input.platform;
  return platformMatches(s.platform, build) ? {} : { platform: specPlatform(s.platform) };
}

/**
 * As BuildKit: an absolute WORKDIR is kept in the config as written (`/app/`, `/srv//x/../y`); only a relative
 * one is joined to the current dir (and so cleaned). The directory made, and the dir a RUN starts in, are the
 * clean path.
 */
function dispatchWorkdir(c: Converter, s: StageState, path: string, loc: InstructionLocation, original: string): void {
  const wd = path.startsWith('/') ? path : joinPath('/', s.image.config.WorkingDir || '/', path);
  s.image.config.WorkingDir = wd;
  if (wd === '/') {
    commitHistory(s.image, `WORKDIR ${wd}`, false);
    return;
  }
  const mkdir: MkdirAction = { action: 'mkdir', path: cleanSlashPath(wd), mode: 0o755, makeParents: true };
  if (s.image.config.User) mkdir.chown = parseChown(s.image.config.User);
  s.node = c.graph.add({ type: 'file', actions: [mkdir] }, [s.node], { description: '', stage: stageTag(s), location: location(loc) });
  s.steps.push({ text: original, meta: c.graph.node(s.node).meta });
  commitHistory(s.image, `WORKDIR ${wd}`, true);
}

export function declareArg(c: Converter, s: StageState, key: string, value: string | undefined): void {
  if (value !== undefined) s.env.set(key, value);
  s.args.push(value === undefined ? { key } : { key, value });
  c.usedArgs.add(key);
}

/** Apply one instruction. `globals` resolves an ARG with no default from the global scope. */
export async function dispatch(
  c: Converter,
  s: StageState,
  inst: Instruction,
  globals: (key: string) => string | undefined,
): Promise<void> {
  const loc = inst.loc;
  // Every word of one instruction expands against the environment as it was before the instruction
  // (Docker: `ENV abc=bye def=$abc` sets def to the old abc), so the lookup is a snapshot.
  const before = s.env.clone().lookup();
  const x = (w: string): string => expandWord(c, before, w, loc);
  const cfg = s.image.config;
  switch (inst.keyword) {
    case 'FROM':
      return fail(loc, 'INVALID_INSTRUCTION', 'internal: FROM dispatched as a stage instruction');
    case 'ARG': {
      const commit: string[] = [];
      for (const a of inst.args) {
        const key = x(a.key);
        let value: string | undefined;
        if (Object.prototype.hasOwnProperty.call(c.input.buildArgs, key)) value = c.input.buildArgs[key];
        else if (a.value !== undefined) value = x(a.value);
        else value = globals(key);
        declareArg(c, s, key, value);
        commit.push(value === undefined || PROXY_KEYS.has(key) ? key : `${key}=${value}`);
      }
      commitHistory(s.image, `ARG ${commit.join(' ')}`, false);
      return;
    }
    case 'ENV': {
      const commit: string[] = [];
      for (const p of inst.pairs) {
        const key = x(p.key);
        const value = x(p.value);
        if (key === '') fail(loc, 'INVALID_INSTRUCTION', 'ENV names can not be blank');
        cfg.Env = setEnv(cfg.Env ?? [], key, value);
        s.env.set(key, value);
        commit.push(`${key}=${value}`);
      }
      commitHistory(s.image, `ENV ${commit.join(' ')}`, false);
      return;
    }
    case 'LABEL': {
      const commit: string[] = [];
      for (const p of inst.pairs) {
        const key = x(p.key);
        const value = x(p.value);
        if (key === '') fail(loc, 'INVALID_INSTRUCTION', 'LABEL names can not be blank');
        (cfg.Labels ??= {})[key] = value;
        commit.push(`${key}=${value}`);
      }
      commitHistory(s.image, `LABEL ${commit.join(' ')}`, false);
      return;
    }
    case 'RUN':
      return dispatchRun(c, s, inst, x);
    case 'CMD': {
      const args = inst.json ? [...inst.args] : [...shell(s), inst.args[0]!];
      cfg.Cmd = args;
      s.cmdSet = true;
      commitHistory(s.image, `CMD ${goQuoteList(args)}`, false);
      return;
    }
    case 'ENTRYPOINT': {
      const args = inst.json ? [...inst.args] : [...shell(s), inst.args[0]!];
      cfg.Entrypoint = args;
      if (!s.cmdSet) delete cfg.Cmd;
      commitHistory(s.image, `ENTRYPOINT ${goQuoteList(args)}`, false);
      return;
    }
    case 'SHELL':
      cfg.Shell = [...inst.args];
      commitHistory(s.image, `SHELL ${goList(inst.args)}`, false);
      return;
    case 'COPY':
    case 'ADD':
      return dispatchCopy(c, s, inst);
    case 'WORKDIR':
      return dispatchWorkdir(c, s, x(inst.value), loc, inst.original);
    case 'USER':
      cfg.User = x(inst.value);
      commitHistory(s.image, `USER ${cfg.User}`, false);
      return;
    case 'STOPSIGNAL': {
      const sig = x(inst.value);
      if (!/^(SIG[A-Z0-9+-]+|\d+)$/i.test(sig)) fail(loc, 'INVALID_INSTRUCTION', `invalid signal: ${sig}`);
      cfg.StopSignal = sig;
      commitHistory(s.image, `STOPSIGNAL ${sig}`, false);
      return;
    }
    case 'MAINTAINER':
      s.image.author = inst.value;
      commitHistory(s.image, `MAINTAINER ${inst.value}`, false);
      return;
    case 'EXPOSE': {
      const ports: string[] = [];
      for (const p of inst.ports) {
        const spec = x(p);
        try {
          ports.push(...parsePortSpec(spec));
        } catch (err) {
          if (err instanceof PortError) fail(loc, 'INVALID_INSTRUCTION', `EXPOSE ${spec}: ${err.message}`);
          throw err;
        }
      }
      cfg.ExposedPorts ??= {};
      for (const p of ports) cfg.ExposedPorts[p] = {};
      commitHistory(s.image, `EXPOSE ${goPortSet(ports)}`, false);
      return;
    }
    case 'VOLUME': {
      const paths = inst.paths.map(x);
      if (paths.some((p) => p.trim() === '')) fail(loc, 'INVALID_INSTRUCTION', 'VOLUME specified can not be an empty string');
      cfg.Volumes ??= {};
      for (const p of paths) cfg.Volumes[p] = {};
      commitHistory(s.image, `VOLUME ${goList(paths)}`, false);
      return;
    }
    case 'HEALTHCHECK': {
      const h: HealthConfig = { Test: [...inst.test] };
      if (inst.interval) h.Interval = inst.interval;
      if (inst.timeout) h.Timeout = inst.timeout;
      if (inst.startPeriod) h.StartPeriod = inst.startPeriod;
      if (inst.startInterval) h.StartInterval = inst.startInterval;
      if (inst.retries) h.Retries = inst.retries;
      cfg.Healthcheck = h;
      commitHistory(s.image, `HEALTHCHECK ${goHealthcheck(h)}`, false);
      return;
    }
    case 'ONBUILD':
      // BuildKit appends the trigger to the config and records no history entry for it.
      cfg.OnBuild = [...(cfg.OnBuild ?? []), inst.expression];
      return;
  }
}
