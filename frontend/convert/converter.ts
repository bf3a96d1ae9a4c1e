/**
 * The conversion driver: splits instructions into stages, evaluates global ARGs, converts the target
 * stage and (lazily, once each) the stages it depends on, then assembles the Definition.
 */
import { DockerfileError, NotFoundError, TsbuildError } from '../../src/errors.js';
import type { Platform } from '../../src/image/types.js';
import { parseDockerfile } from '../parse/index.js';
import { scanDockerfile } from '../parse/scan.js';
import { toInstruction, type Instruction, type InstructionLocation } from '../parse/instructions.js';
import { ShellLex } from '../shell/lex.js';
import { expandWord, fail, type Converter, type ResolvedImage, type StageDef, type StageState } from './context.js';
import { dispatch } from './dispatch.js';
import { EnvList } from './env-list.js';
import { GraphBuilder, type NodeId } from './graph.js';
import { baseImage, cloneImage, emptyImage } from './image-config.js';
import { formatPlatform, normalizePlatform, parsePlatform, specPlatform } from '../../src/image/platform.js';
import type { FrontendInput, FrontendOutput, NamedContext, Warning } from './input.js';
import type { CopyAction } from '../../src/llb/types.js';
import { familiarName, normalizeReference } from '../../src/image/reference.js';
import { parseCheckDirective, type CheckSink } from '../checks/rules.js';
import { BUILD_CHECKS } from '../checks/evaluated.js';
import { Diagnostics } from '../../src/diagnostics.js';
import { PROXY_ARGS } from '../../src/llb/proxy-args.js';


/** BUILDPLATFORM… and TARGETPLATFORM…, written as BuildKit writes them (linux/arm64 has no variant, linux/arm/v7 has). */
function platformArgs(target: Platform, build: Platform): string[] {
  const out: string[] = [];
  for (const [prefix, raw] of [['BUILD', build], ['TARGET', target]] as const) {
    const p = specPlatform(raw);
    out.push(`${prefix}PLATFORM=${formatPlatform(p)}`, `${prefix}OS=${p.os}`, `${prefix}ARCH=${p.architecture}`, `${prefix}VARIANT=${p.variant ?? ''}`);
  }
  return out;
}

function splitStages(instructions: Instruction[], file: string, checkOnly: boolean): { globals: Instruction[]; stages: StageDef[] } {
  const globals: Instruction[] = [];
  const stages: StageDef[] = [];
  const names = new Map<string, number>();
  for (const inst of instructions) {
    if (inst.keyword === 'FROM') {
      const def: StageDef = { index: stages.length, from: inst, instructions: [] };
      if (inst.stageName !== undefined) {
        if (names.has(inst.stageName)) {
          // --check reports DuplicateStageName and goes on (the first stage of that name wins).
          if (!checkOnly) fail(inst.loc, 'DUPLICATE_STAGE', `duplicate stage name ${JSON.stringify(inst.stageName)}`, undefined, inst.stageName);
        } else {
          names.set(inst.stageName, def.index);
          def.name = inst.stageName;
        }
      }
      stages.push(def);
    } else if (stages.length === 0) {
      if (inst.keyword !== 'ARG') fail(inst.loc, 'NO_BUILD_STAGE', `${inst.keyword} before the first FROM: no build stage in current context`);
      globals.push(inst);
    } else {
      stages[stages.length - 1]!.instructions.push(inst);
    }
  }
  if (stages.length === 0) {
    const last = instructions[instructions.length - 1]!.loc;
    throw new DockerfileError('NO_STAGES', 'the Dockerfile has no FROM instruction', { file, line: last.startLine, column: 1, lineText: last.lineText });
  }
  return { globals, stages };
}

/** "run make" → "RUN make" (progress text). */
function stepText(original: string): string {
  const m = /^(\S+)(.*)$/s.exec(original);
  const text = m ? m[1]!.toUpperCase() + m[2]! : original;
  // A step's name is echoed by progress and errors: a 1 MB instruction is named by its first 200 characters.
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

export async function convertDockerfile(input: FrontendInput): Promise<FrontendOutput> {
  const file = input.dockerfilePath;
  const parsed = parseDockerfile(input.dockerfile, file);
  const warnings: Warning[] = parsed.warnings.map((w) => ({ message: w.message, file, line: w.line }));
  if (parsed.syntax !== undefined) {
    const line = input.dockerfile.replace(/^\uFEFF/, '').split(/\r?\n/).findIndex((l) => /^\s*#\s*syntax\s*=/i.test(l)) + 1;
    warnings.push({
      message: `# syntax=${parsed.syntax}: external frontends are not loaded; tsbuild's built-in Dockerfile frontend is used`,
      file,
      ...(line > 0 ? { line } : {}),
    });
  }
  const checkCfg = parseCheckDirective(parsed.check?.value);
  if (typeof checkCfg === 'string') {
    const line = parsed.check!.line;
    const text = input.dockerfile.replace(/^\uFEFF/, '').split(/\r?\n/)[line - 1] ?? '';
    throw new DockerfileError('INVALID_DIRECTIVE', checkCfg, { file, line, column: 1, lineText: text });
  }
  const checkWarnings: Warning[] = [];
  const reported = new Set<string>();
  const lint: CheckSink = (rule, message, loc) => {
    if (checkCfg.skipAll || checkCfg.skip.has(rule)) return;
    const id = `${rule}\0${loc.startLine}\0${message}`;
    if (reported.has(id)) return;
    reported.add(id);
    checkWarnings.push({ rule, message, file: loc.file, line: loc.startLine });
  };
  // Build checks are diagnostics: a rule that throws is one warning, never a failed build (src/diagnostics.ts).
  const diagnostics = new Diagnostics((message) => warnings.push({ message, file }));
  const checks = input.checks ?? BUILD_CHECKS;
  diagnostics.bestEffortSync('build checks', () => checks.static(parsed.instructions, lint));
  const { globals, stages } = splitStages(parsed.instructions, file, input.checkOnly === true);
  const declaredArgs = new Set<string>();
  for (const inst of parsed.instructions) {
    const all = inst.keyword === 'ONBUILD' ? [inst, inst.trigger] : [inst];
    for (const i of all) if (i.keyword === 'ARG') for (const a of i.args) declaredArgs.add(a.key);
  }
  const buildPlatform = input.buildPlatform ?? input.platform;
  const globalArgs = new Set<string>(platformArgs(input.platform, buildPlatform).map((kv) => kv.slice(0, kv.indexOf('='))));
  for (const inst of globals) if (inst.keyword === 'ARG') for (const a of inst.args) globalArgs.add(a.key);
  const graph = new GraphBuilder();
  const lex = new ShellLex({ escapeToken: parsed.escapeToken });
  const usedArgs = new Set<string>();

  let targetIndex = stages.length - 1;
  if (input.target !== undefined && input.target !== '') {
    const t = stages.find((s) => s.name === input.target!.toLowerCase());
    if (!t) {
      const named = stages.filter((s) => s.name).map((s) => s.name);
      throw new NotFoundError('TARGET_NOT_FOUND', `target stage ${JSON.stringify(input.target)} could not be found; the named stages are: ${named.length > 0 ? named.join(', ') : '(none)'}`);
    }
    targetIndex = t.index;
  }

  const images = new Map<string, Promise<{ ref: string; digest: string; config: import('../../src/image/types.js').ImageConfig }>>();
  const converted = new Map<number, Promise<StageState>>();
  const inProgress = new Set<number>();
  /** Local source nodes by local name ('context': the build context) and the paths each COPY/mount reads. */
  const locals = new Map<string, { node: NodeId; paths: Set<string> }>();

  const c: Converter = {
    input,
    file,
    graph,
    lex,
    lint,
    checks,
    diagnostics,
    declaredArgs,
    globalArgs,
    escapeToken: parsed.escapeToken,
    warnings,
    usedArgs,
    proxyEnv: PROXY_ARGS.filter((k) => Object.prototype.hasOwnProperty.call(input.buildArgs, k)).map((k) => `${k}=${input.buildArgs[k]}`),
    stageNames() {
      return stages.filter((s) => s.name !== undefined).map((s) => s.name!);
    },
    findStage(ref) {
      const lower = ref.toLowerCase();
      const byName = stages.find((s) => s.name === lower);
      if (byName) return byName;
      if (/^\d+$/.test(ref)) return stages[Number(ref)];
      return undefined;
    },
    async stage(index, from) {
      if (inProgress.has(index)) fail(from, 'CIRCULAR_DEPENDENCY', `circular dependency detected on stage ${stages[index]!.name ?? index}`);
      let p = converted.get(index);
      if (!p) {
        inProgress.add(index);
        // Trampolined: the stage converts from the microtask queue on a fresh stack, so a chain of 2,000
        // stages (FROM a previous stage, COPY --from) never nests 2,000 conversions on one stack.
        p = Promise.resolve()
          .then(() => convertStage(stages[index]!))
          .finally(() => inProgress.delete(index));
        converted.set(index, p);
      }
      return p;
    },
    async image(ref, loc, _label, platform = input.platform): Promise<ResolvedImage> {
      const id = `${formatPlatform(normalizePlatform(platform))} ${ref}`;
      let p = images.get(id);
      if (!p) {
        p = input.resolveImage(ref, platform);
        images.set(id, p);
      }
      let resolved;
      try {
        resolved = await p;
      } catch (err) {
        if (err instanceof NotFoundError) fail(loc, 'IMAGE_NOT_FOUND', `image ${JSON.stringify(ref)} not found: ${err.message}`, err);
        // Any other failure to resolve a base image (registry unreachable, auth) still names the line.
        if (err instanceof TsbuildError && err.location === undefined) fail(loc, err.code, `image ${JSON.stringify(ref)}: ${err.message}`, err);
        throw err;
      }
      const node = graph.add(
        { type: 'source', source: { kind: 'image', ref: resolved.ref, digest: resolved.digest, platform: { ...platform } } },
        [],
        { description: `FROM ${resolved.ref}`, location: { file: loc.file, line: loc.startLine, endLine: loc.endLine } },
      );
      return { node, ref: resolved.ref, config: resolved.config };
    },
    context(paths, named) {
      const name = named?.source ?? 'context';
      let l = locals.get(name);
      if (l === undefined) {
        const excludePatterns = [...(named?.excludePatterns ?? input.excludePatterns)];
        const node = graph.add({ type: 'source', source: { kind: 'local', name, excludePatterns } }, [], {
          description: named ? `[context ${named.name}] load from client` : '[internal] load build context',
        });
        l = { node, paths: new Set() };
        locals.set(name, l);
      }
      for (const p of paths) l.paths.add(p);
      return l.node;
    },
    namedContext(name) {
      const all = input.namedContexts;
      if (all === undefined) return undefined;
      const key = namedContextKey(name);
      const context = key === undefined ? undefined : all[key];
      return context === undefined ? undefined : { name: key!, context };
    },
  };

  /** A stage made of a named context: its image, or a local directory copied onto scratch. */
  async function namedStage(
    nc: { name: string; context: NamedContext },
    def: StageDef,
    label: string,
    stageTag: string,
    platform: Platform,
    loc: InstructionLocation,
  ): Promise<StageState> {
    if (nc.context.kind === 'image') {
      const r = await c.image(nc.context.ref, loc, label, platform);
      const image = baseImage(r.config);
      const m = graph.node(r.node).meta;
      m.stage = stageTag;
      return { def, label, node: r.node, platform, image, env: new EnvList(image.config.Env ?? []), args: [], cmdSet: false, steps: [{ text: `FROM ${r.ref}`, meta: m }] };
    }
    const local = c.context(['.'], { name: nc.name, ...nc.context });
    const scratch = graph.add({ type: 'source', source: { kind: 'scratch' } }, [], { description: '' });
    const copy: CopyAction = { action: 'copy', sourceInput: 1, src: ['.'], dest: '/', allowWildcard: false, followSymlinks: false } as CopyAction;
    const node = graph.add({ type: 'file', actions: [copy] }, [scratch, local], {
      description: '',
      stage: stageTag,
      location: { file, line: loc.startLine, endLine: loc.endLine },
    });
    const image = emptyImage(specPlatform(platform));
    return { def, label, node, platform, image, env: new EnvList(image.config.Env ?? []), args: [], cmdSet: false, steps: [{ text: `FROM ${nc.name}`, meta: graph.node(node).meta }] };
  }

  // Global ARGs (before the first FROM): usable in FROM, inherited by `ARG name` in stages.
  const meta = new EnvList(platformArgs(input.platform, buildPlatform));
  for (const inst of globals) {
    if (inst.keyword !== 'ARG') continue;
    for (const a of inst.args) {
      const key = expandWord(c, meta.lookup(), a.key, inst.loc);
      usedArgs.add(key);
      let value: string | undefined;
      if (Object.prototype.hasOwnProperty.call(input.buildArgs, key)) value = input.buildArgs[key];
      else if (a.value !== undefined) value = expandWord(c, meta.lookup(), a.value, inst.loc);
      if (value !== undefined) meta.set(key, value);
    }
  }

  async function convertStage(def: StageDef): Promise<StageState> {
    const from = def.from;
    const loc = from.loc;
    const label = def.name ?? (def.index === targetIndex ? '' : `stage-${def.index}`);
    const stageTag = def.name ?? String(def.index);
    const base = expandWord(c, meta.lookup(), from.image, loc, 'UndefinedArgInFrom');
    if (base === '') fail(loc, 'INVALID_INSTRUCTION', `base name (${from.image}) should not be blank`);
    let platform = input.platform;
    if (from.platform !== undefined) {
      const text = expandWord(c, meta.lookup(), from.platform, loc, 'UndefinedArgInFrom');
      const p = parsePlatform(text);
      if (!p) fail(loc, 'INVALID_FLAG', `FROM --platform: invalid platform ${JSON.stringify(text)} (os/arch[/variant])`, undefined, '--platform');
      platform = normalizePlatform(p!);
    }
    const parent = c.findStage(base);
    // --build-context NAME replaces the stage NAME (none of its instructions run), or the image NAME.
    const replaced = def.name !== undefined ? c.namedContext(def.name) : undefined;
    const named = replaced ?? (parent && parent.index < def.index ? undefined : c.namedContext(base));
    let s: StageState;
    if (named) {
      s = await namedStage(named, def, label, stageTag, platform, loc);
    } else if (parent && parent.index < def.index) {
      const ps = await c.stage(parent.index, loc);
      s = { def, label, node: ps.node, platform: ps.platform, image: cloneImage(ps.image), env: ps.env.clone(), args: [], cmdSet: false, steps: [{ text: `FROM ${base}`, meta: null }] };
    } else if (base.toLowerCase() === 'scratch') {
      const image = emptyImage(specPlatform(platform));
      const node = graph.add({ type: 'source', source: { kind: 'scratch' } }, [], {
        description: '',
        stage: stageTag,
        location: { file, line: loc.startLine, endLine: loc.endLine },
      });
      s = { def, label, node, platform, image, env: new EnvList(image.config.Env ?? []), args: [], cmdSet: false, steps: [{ text: 'FROM scratch', meta: graph.node(node).meta }] };
    } else {
      const r = await c.image(base, loc, label, platform);
      const image = baseImage(r.config);
      const m = graph.node(r.node).meta;
      m.stage = stageTag;
      s = { def, label, node: r.node, platform, image, env: new EnvList(image.config.Env ?? []), args: [], cmdSet: false, steps: [{ text: `FROM ${r.ref}`, meta: m }] };
    }
    const globalsLookup = (key: string): string | undefined => meta.get(key);
    if (!replaced) {
      for (const inst of onbuildTriggers(s, loc)) await dispatch(c, s, inst, globalsLookup);
      for (const inst of def.instructions) await dispatch(c, s, inst, globalsLookup);
    }

    const total = s.steps.length;
    const width = String(total).length;
    // Several platforms: each step names its stage's platform, as BuildKit ([linux/arm64 build 3/5]).
    const prefix = [input.platformInNames ? formatPlatform(specPlatform(s.platform)) : '', label].filter((x) => x !== '').join(' ');
    s.steps.forEach((step, i) => {
      if (step.meta) step.meta.description = `[${prefix ? prefix + ' ' : ''}${String(i + 1).padStart(width)}/${total}] ${stepText(step.text)}`;
    });
    return s;
  }

  /** The base's ONBUILD triggers, parsed and located at the FROM line; clears them from the config. */
  function onbuildTriggers(s: StageState, loc: InstructionLocation): Instruction[] {
    const triggers = s.image.config.OnBuild ?? [];
    delete s.image.config.OnBuild;
    const out: Instruction[] = [];
    for (const expr of triggers) {
      try {
        for (const node of scanDockerfile(expr, file).nodes) {
          const kw = node.keyword.toUpperCase();
          if (kw === 'FROM' || kw === 'ONBUILD' || kw === 'MAINTAINER') throw new Error(`${kw} isn't allowed as an ONBUILD trigger`);
          const inst = toInstruction(node, file);
          inst.loc = loc;
          out.push(inst);
        }
      } catch (err) {
        fail(loc, 'INVALID_ONBUILD', `ONBUILD trigger ${JSON.stringify(expr)} from the base image: ${(err as Error).message}`, err);
      }
    }
    return out;
  }

  const target = await c.stage(targetIndex, stages[targetIndex]!.from.loc);
  // --check looks at every stage, reachable or not (as BuildKit's lint does).
  if (input.checkOnly === true) for (const st of stages) await c.stage(st.index, st.from.loc);
  // Wait for every stage that started converting (all are dependencies of the target).
  const states = new Map<number, StageState>();
  for (const [i, p] of converted) states.set(i, await p);

  for (const { node, paths } of locals.values()) {
    const body = graph.node(node).body;
    if (body.type === 'source' && body.source.kind === 'local' && !paths.has('.')) {
      body.source.includePaths = [...paths].sort();
    }
  }

  const unused = Object.keys(input.buildArgs).filter((k) => !usedArgs.has(k) && !PROXY_ARGS.includes(k)).sort();
  if (unused.length > 0) warnings.push({ message: `One or more build-args [${unused.join(' ')}] were not consumed`, file });

  // Check warnings, in Dockerfile order, after the parser's; `# check=error=true` turns them into an error.
  checkWarnings.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
  warnings.push(...checkWarnings);
  if (checkCfg.error && checkWarnings.length > 0 && input.checkOnly !== true) {
    const first = checkWarnings[0]!;
    const text = input.dockerfile.replace(/^\uFEFF/, '').split(/\r?\n/)[(first.line ?? 1) - 1] ?? '';
    throw new DockerfileError('CHECK_FAILED', `lint violation found for rules: ${[...new Set(checkWarnings.map((w) => w.rule))].join(', ')} (# check=error=true); first: ${first.rule}: ${first.message}`, {
      file,
      line: first.line ?? 1,
      column: 1,
      lineText: text,
    });
  }
  const definition = graph.finalize(target.node, target.image);
  return {
    definition,
    warnings,
    stages: stages.map((d) => ({ name: d.name ?? '', index: d.index, reachable: states.has(d.index) })),
  };
}

/**
 * The key a FROM/--from name is looked up under among the named contexts, as BuildKit's dockerui does: the
 * familiar form of the normalised reference without `:latest` (`docker.io/library/busybox:latest` → `busybox`).
 * A name that is not a valid reference (a stage index, upper case) matches nothing.
 */
function namedContextKey(name: string): string | undefined {
  try {
    return familiarName(normalizeReference(name)).replace(/:latest$/, '');
  } catch {
    return undefined;
  }
}
