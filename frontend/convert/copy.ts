/**
 * COPY and ADD → one FileOp on the stage, with one CopyAction per kind of source:
 * - paths: from the build context, or `--from` a stage (name or index) or an image;
 * - heredocs (`COPY <<EOF /dest`): a file `/<delimiter>` made on scratch (mode 0644, content expanded
 *   unless the delimiter was quoted; quotes kept, as BuildKit's ExpandRaw), then copied like a file;
 * - ADD http(s) URLs: an http source op (file named after the URL's last path segment, or `__unnamed__`),
 *   `--checksum` pinning its content; a git URL (ADD only) is a git source checked out into the destination.
 * ADD unpacks local tar archives (by content) unless `--unpack=false`; remote files only with `--unpack`.
 */
import { DockerfileError } from '../../src/errors.js';
import type { Chown, CopyAction, FileAction, GitSource, HttpSource, MkfileAction } from '../../src/llb/types.js';
import { parseGitUrl, type GitUrl } from '../../src/git/repo.js';
import { isValidModeSpec } from '../../src/copy/chmod.js';
import type { Heredoc } from '../parse/types.js';
import type { CopyInstruction } from '../parse/instructions.js';
import { chompHeredocContent, parseHeredocWord } from '../parse/heredoc.js';
import { ShellExpansionError, ShellLex } from '../shell/lex.js';
import { expandWord, fail, type Converter, type StageState } from './context.js';
import type { NodeId } from './graph.js';
import { commitHistory } from './image-config.js';
import { insideRoot, joinPath, relativeToRoot } from './paths.js';

const HTTP_SOURCE = /^https?:\/\//i;
const GIT_SOURCE = /^(git@|git:\/\/|ssh:\/\/|github\.com\/)|^https?:\/\/\S+\.git(#.*)?$/i;
const CHECKSUM = /^sha256:[0-9a-f]{64}$/;

export function parseChown(text: string): Chown {
  const i = text.indexOf(':');
  if (i < 0) return { user: text };
  return { user: text.slice(0, i), group: text.slice(i + 1) };
}

/** Destination: absolute as written, relative joined to WORKDIR; a trailing "/" (or ".") is kept. */
export function resolveDest(dest: string, workdir: string): string {
  let out = dest.startsWith('/') ? dest : joinPath('/', workdir, dest);
  if ((dest === '.' || dest === '' || dest.endsWith('/')) && !out.endsWith('/')) out += '/';
  return out;
}

/** The file name BuildKit gives a downloaded URL: the last segment of its path, or `__unnamed__`. */
export function urlFilename(url: string): string {
  let path = '';
  try {
    path = new URL(url).pathname;
  } catch {
    return '__unnamed__';
  }
  let name = path.slice(path.lastIndexOf('/') + 1);
  try {
    name = decodeURIComponent(name);
  } catch {
    /* keep it encoded */
  }
  return name === '' || name === '.' || name === '..' || name.includes('/') ? '__unnamed__' : name;
}

type Source = { kind: 'path'; text: string } | { kind: 'url'; url: string } | { kind: 'git'; url: string; git: GitUrl } | { kind: 'heredoc'; doc: Heredoc; word: string };

export async function dispatchCopy(c: Converter, s: StageState, inst: CopyInstruction): Promise<void> {
  const loc = inst.loc;
  const kw = inst.keyword;
  const env = s.env.lookup();
  const x = (w: string): string => expandWord(c, env, w, loc);

  // Sources: heredoc words pair with the instruction's heredocs in order; the rest expand.
  const sources: Source[] = [];
  let nextDoc = 0;
  for (const word of inst.sources) {
    if (!inst.json && inst.heredocs.length > nextDoc && isHeredocWord(word)) {
      sources.push({ kind: 'heredoc', doc: inst.heredocs[nextDoc++]!, word });
      continue;
    }
    const text = x(word);
    if (text === '') fail(loc, 'INVALID_INSTRUCTION', `${kw}: a source path can not be empty`);
    if (GIT_SOURCE.test(text)) {
      if (kw === 'COPY') fail(loc, 'INVALID_INSTRUCTION', `source can't be a URL for COPY: ${text}`, undefined, word);
      let git: GitUrl;
      try {
        git = parseGitUrl(text, 'ADD git source');
      } catch (err) {
        return fail(loc, 'INVALID_INSTRUCTION', (err as Error).message, err, word);
      }
      sources.push({ kind: 'git', url: text, git });
      continue;
    }
    if (HTTP_SOURCE.test(text)) {
      if (kw === 'COPY') fail(loc, 'INVALID_INSTRUCTION', `source can't be a URL for COPY: ${text}`, undefined, word);
      sources.push({ kind: 'url', url: text });
      continue;
    }
    sources.push({ kind: 'path', text });
  }
  const dest = x(inst.dest);
  if (sources.length > 1 && !dest.endsWith('/')) {
    fail(loc, 'INVALID_INSTRUCTION', `When using ${kw} with more than one source file, the destination must be a directory and end with a /`, undefined, inst.dest);
  }

  const base: Omit<CopyAction, 'sourceInput' | 'src' | 'allowWildcard'> = {
    action: 'copy',
    dest: resolveDest(dest, s.image.config.WorkingDir || '/'),
    followSymlinks: true,
  };
  if (inst.chown !== undefined) {
    // As BuildKit: `--chown=` is no chown at all, `--chown=:grp` is root's uid with that group.
    const chown = x(inst.chown);
    if (chown !== '') {
      base.chown = parseChown(chown);
      // A numeric id must fit a Linux uid/gid (as BuildKit's 32-bit parse; 2^31-1 like USER): say so, not chown(2)'s range error.
      for (const id of [base.chown.user, base.chown.group ?? '']) {
        if (/^\d+$/.test(id) && Number(id) > 2 ** 31 - 1) fail(loc, 'INVALID_FLAG', `${kw} --chown: id ${id.length > 20 ? id.slice(0, 20) + '…' : id} is out of range (0 to ${2 ** 31 - 1})`, undefined, '--chown');
      }
    }
  }
  if (inst.chmod !== undefined) {
    const mode = x(inst.chmod);
    if (!isValidModeSpec(mode)) {
      fail(loc, 'INVALID_FLAG', `${kw} --chmod: invalid mode ${JSON.stringify(mode)}: expected octal (755) or symbolic (u+x,g-w)`, undefined, '--chmod');
    }
    base.chmod = mode;
  }
  const exclude = inst.exclude.map(x);
  if (exclude.some((p) => p === '')) fail(loc, 'INVALID_FLAG', `${kw} --exclude: a pattern can not be empty`, undefined, '--exclude');
  let checksum: string | undefined;
  if (inst.checksum !== undefined) {
    checksum = x(inst.checksum);
    if (!sources.every((src) => src.kind === 'url')) fail(loc, 'INVALID_FLAG', `${kw} --checksum can only be used with an http(s) source`, undefined, '--checksum');
    if (!CHECKSUM.test(checksum)) fail(loc, 'INVALID_FLAG', `${kw} --checksum: expected sha256:<64 hex digits>, got ${JSON.stringify(checksum)}`, undefined, '--checksum');
  }
  if (inst.keepGitDir !== undefined && !sources.some((src) => src.kind === 'git')) fail(loc, 'INVALID_FLAG', `${kw} --keep-git-dir can only be used with a git source`, undefined, '--keep-git-dir');

  const actions: FileAction[] = [];
  const inputs: NodeId[] = [s.node];
  const addInput = (n: NodeId): number => {
    const i = inputs.indexOf(n, 1);
    if (i >= 1) return i;
    inputs.push(n);
    return inputs.length - 1;
  };
  // Fields in a fixed order (the Definition dump is compared as text by the golden tests).
  const withCommon = (p: { sourceInput: number; src: string[]; allowWildcard: boolean }): CopyAction => {
    const a: CopyAction = { action: 'copy', sourceInput: p.sourceInput, src: p.src, dest: base.dest } as CopyAction;
    if (base.chown) a.chown = base.chown;
    if (base.chmod !== undefined) a.chmod = base.chmod;
    a.allowWildcard = p.allowWildcard;
    a.followSymlinks = base.followSymlinks;
    if (exclude.length > 0) a.exclude = exclude;
    return a;
  };

  const paths = sources.filter((src): src is { kind: 'path'; text: string } => src.kind === 'path').map((src) => src.text);
  if (paths.length > 0) {
    const from = inst.from !== undefined ? x(inst.from) : undefined;
    let sourceNode: NodeId;
    let src: string[];
    if (from === undefined) {
      const rel = paths.map((p) => {
        const r = relativeToRoot(p);
        if (r === null) fail(loc, 'PATH_OUTSIDE_CONTEXT', `${kw} source ${JSON.stringify(p)} is outside the build context`, undefined, p);
        return r!;
      });
      c.diagnostics.bestEffortSync('build check CopyIgnoredFile', () => c.checks.copyIgnoredFile(kw, rel, c.input.excludePatterns, c.lint, loc));
      // --parents needs the `/./` pivot, which cleaning would drop.
      src = inst.parents ? paths.map((p) => p.replace(/^\/+/, '')) : rel;
      sourceNode = c.context(rel);
    } else {
      if (from === '') fail(loc, 'INVALID_FLAG', `${kw} --from requires a value`, undefined, '--from');
      src = inst.parents ? paths.map((p) => p.replace(/^\/+/, '')) : paths.map(insideRoot);
      const def = c.findStage(from);
      let named: ReturnType<Converter['namedContext']>;
      if (def) {
        if (def.index === s.def.index) fail(loc, 'CIRCULAR_DEPENDENCY', `${kw} --from=${from} refers to its own stage`, undefined, '--from');
        // As BuildKit: a stage copies only from stages defined before it.
        if (def.index > s.def.index) fail(loc, 'STAGE_ORDER', `cannot copy from stage "${def.name ?? def.index}", it needs to be defined before current stage "${s.def.name ?? s.def.index}"`, undefined, '--from');
        sourceNode = (await c.stage(def.index, loc)).node;
      } else if (/^\d+$/.test(from)) {
        fail(loc, 'STAGE_NOT_FOUND', `${kw} --from=${from}: there is no stage with index ${from}`, undefined, '--from');
      } else if ((named = c.namedContext(from)) !== undefined) {
        // --build-context: a directory is read like the build context (its own .dockerignore), an image like --from=IMAGE.
        if (named.context.kind === 'local') sourceNode = c.context(src, { name: named.name, ...named.context });
        else sourceNode = (await c.image(named.context.ref, loc, s.label)).node;
      } else {
        try {
          sourceNode = (await c.image(from, loc, s.label)).node;
        } catch (err) {
          if (!(err instanceof DockerfileError) || err.code !== 'IMAGE_NOT_FOUND') throw err;
          const names = c.stageNames();
          fail(loc, 'STAGE_NOT_FOUND', `${kw} --from=${from}: no stage of that name, and no image: ${err.message}; the named stages are: ${names.length > 0 ? names.join(', ') : '(none)'}`, err, '--from');
        }
      }
    }
    const a = withCommon({ sourceInput: addInput(sourceNode!), src, allowWildcard: true });
    if (inst.parents) a.parents = true;
    if (kw === 'ADD' && from === undefined && inst.unpack !== false) a.unpack = true;
    actions.push(a);
  }

  for (const src of sources) {
    if (src.kind === 'url') {
      const filename = urlFilename(src.url);
      const http: HttpSource = { kind: 'http', url: src.url, filename };
      if (checksum !== undefined) http.checksum = checksum;
      const node = c.graph.add({ type: 'source', source: http }, [], { description: `[internal] download ${src.url}` });
      const a = withCommon({ sourceInput: addInput(node), src: [filename], allowWildcard: false });
      if (inst.unpack === true) a.unpack = true;
      actions.push(a);
    } else if (src.kind === 'git') {
      // As BuildKit: the checkout's contents land in the destination directory.
      const git: GitSource = { kind: 'git', remote: src.git.remote, keepGitDir: inst.keepGitDir === true };
      if (src.git.ref !== undefined) git.ref = src.git.ref;
      if (src.git.subdir !== undefined) git.subdir = src.git.subdir;
      const node = c.graph.add({ type: 'source', source: git }, [], { description: `[internal] git ${src.url}` });
      actions.push(withCommon({ sourceInput: addInput(node), src: ['.'], allowWildcard: false }));
    } else if (src.kind === 'heredoc') {
      const node = heredocFile(c, s, src.doc, loc);
      actions.push(withCommon({ sourceInput: addInput(node), src: [src.doc.name], allowWildcard: false }));
    }
  }

  s.node = c.graph.add({ type: 'file', actions }, inputs, {
    description: '',
    stage: s.def.name ?? String(s.def.index),
    location: { file: loc.file, line: loc.startLine, endLine: loc.endLine },
  });
  s.steps.push({ text: inst.original, meta: c.graph.node(s.node).meta });
  const words = sources.map((src) => (src.kind === 'path' ? src.text : src.kind === 'url' || src.kind === 'git' ? src.url : src.word));
  commitHistory(s.image, `${kw} ${[...words, dest].join(' ')} # buildkit`, true);
}

function isHeredocWord(word: string): boolean {
  try {
    return parseHeredocWord(word) !== null;
  } catch {
    return false;
  }
}

/** A scratch filesystem holding the heredoc as `/<name>`. */
function heredocFile(c: Converter, s: StageState, doc: Heredoc, loc: CopyInstruction['loc']): NodeId {
  if (doc.name === '' || doc.name.includes('/') || doc.name === '.' || doc.name === '..') {
    fail(loc, 'INVALID_HEREDOC', `heredoc name ${JSON.stringify(doc.name)} can not be used as a file name`, undefined, '<<');
  }
  let data = doc.chomp ? chompHeredocContent(doc.content) : doc.content;
  if (doc.expand) {
    try {
      data = new ShellLex({ escapeToken: c.escapeToken, rawQuotes: true }).processWord(data, s.env.lookup());
    } catch (err) {
      if (err instanceof ShellExpansionError) fail(loc, 'EXPANSION_FAILED', err.message, err);
      throw err;
    }
  }
  const mkfile: MkfileAction = { action: 'mkfile', path: `/${doc.name}`, mode: 0o644, data };
  const scratch = c.graph.add({ type: 'source', source: { kind: 'scratch' } }, [], { description: '' });
  return c.graph.add({ type: 'file', actions: [mkfile] }, [scratch], { description: `[internal] heredoc ${doc.name}` });
}
