/** COPY and ADD → a FileOp with one CopyAction (sources from the context, a stage or an image). */
import type { Chown, CopyAction } from '../../src/llb/types.js';
import type { CopyInstruction } from '../parse/instructions.js';
import { parseHeredocWordSafe } from './heredoc-words.js';
import { expandWord, fail, type Converter, type StageState } from './context.js';
import type { NodeId } from './graph.js';
import { commitHistory } from './image-config.js';
import { insideRoot, joinPath, relativeToRoot } from './paths.js';

const URL_SOURCE = /^(https?:\/\/|git@|git:\/\/)/i;

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

const ARCHIVE_NAME = /\.(tar|tgz|tbz2?|txz|tar\.(gz|bz2|xz|zst))$/i;

export async function dispatchCopy(c: Converter, s: StageState, inst: CopyInstruction): Promise<void> {
  const loc = inst.loc;
  const env = s.env.lookup();
  const x = (w: string): string => expandWord(c, env, w, loc);
  if (inst.heredocs.length > 0 && inst.sources.some((src) => parseHeredocWordSafe(src))) {
    fail(loc, 'NOT_SUPPORTED', `${inst.keyword} with a heredoc source is not supported by tsbuild yet`);
  }
  const sources = inst.sources.map(x);
  const dest = x(inst.dest);
  for (const src of sources) {
    if (src === '') fail(loc, 'INVALID_INSTRUCTION', `${inst.keyword}: a source path can not be empty`);
    if (URL_SOURCE.test(src)) {
      if (inst.keyword === 'COPY') fail(loc, 'INVALID_INSTRUCTION', `source can't be a URL for COPY: ${src}`);
      fail(loc, 'NOT_SUPPORTED', `ADD from a URL or git repository is not supported by tsbuild yet: ${src}`);
    }
    // Docker's ADD unpacks a local tar archive; copying it as a file instead would build a wrong image
    // silently. Until extraction lands, refuse what looks like an archive (Docker decides by content).
    if (inst.keyword === 'ADD' && ARCHIVE_NAME.test(src)) {
      fail(loc, 'NOT_SUPPORTED', `ADD of a local archive (${src}) would unpack it, which tsbuild does not support yet; use COPY to copy it as a file, or COPY it and RUN tar -x`);
    }
  }
  if (sources.length > 1 && !dest.endsWith('/')) {
    fail(loc, 'INVALID_INSTRUCTION', `When using ${inst.keyword} with more than one source file, the destination must be a directory and end with a /`);
  }
  const action: CopyAction = {
    action: 'copy',
    sourceInput: 1,
    src: [],
    dest: resolveDest(dest, s.image.config.WorkingDir || '/'),
    allowWildcard: true,
    followSymlinks: true,
  };
  if (inst.chown !== undefined) action.chown = parseChown(x(inst.chown));
  if (inst.chmod !== undefined) {
    const mode = x(inst.chmod);
    if (!/^[0-7]{1,4}$/.test(mode)) fail(loc, 'INVALID_FLAG', `${inst.keyword} --chmod: invalid octal mode ${JSON.stringify(mode)}`);
    action.chmod = mode;
  }

  let sourceNode: NodeId;
  const from = inst.from !== undefined ? x(inst.from) : undefined;
  if (from === undefined) {
    const rel = sources.map((src) => {
      const r = relativeToRoot(src);
      if (r === null) fail(loc, 'PATH_OUTSIDE_CONTEXT', `${inst.keyword} source ${JSON.stringify(src)} is outside the build context`);
      return r!;
    });
    action.src = rel;
    sourceNode = c.context(rel);
  } else {
    if (from === '') fail(loc, 'INVALID_FLAG', `${inst.keyword} --from requires a value`);
    action.src = sources.map(insideRoot);
    const def = c.findStage(from);
    if (def) {
      if (def.index === s.def.index) fail(loc, 'CIRCULAR_DEPENDENCY', `${inst.keyword} --from=${from} refers to its own stage`);
      sourceNode = (await c.stage(def.index, loc)).node;
    } else if (/^\d+$/.test(from)) {
      fail(loc, 'STAGE_NOT_FOUND', `${inst.keyword} --from=${from}: there is no stage with index ${from}`);
    } else {
      sourceNode = (await c.image(from, loc, s.label)).node;
    }
  }

  s.node = c.graph.add({ type: 'file', actions: [action] }, [s.node, sourceNode!], {
    description: '',
    stage: s.def.name ?? String(s.def.index),
    location: { file: loc.file, line: loc.startLine, endLine: loc.endLine },
  });
  s.steps.push({ text: inst.original, meta: c.graph.node(s.node).meta });
  commitHistory(s.image, `${inst.keyword} ${[...sources, dest].join(' ')} # buildkit`, true);
}
