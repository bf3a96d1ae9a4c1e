/**
 * COPY/ADD source selection: which files a step reads from a root (the build context, or a stage rootfs).
 *
 * Words:
 * - source: one `src` of a COPY, relative to the root; `..` never leaves the root (it is clamped, as BuildKit
 *   does), and symlinks resolve as if the root were `/` (see src/fsutil/scoped.ts).
 * - match: a path the source names (one, or several for a wildcard). A matched directory stands for its
 *   contents (COPY copies what is inside it).
 * - entry: the match itself (rel "") and, for a directory, everything below it (rel "a/b"), in walk order
 *   (a directory before its contents, names sorted). Entries excluded by .dockerignore are left out, except
 *   an excluded directory that has a re-included (`!`) descendant, which stays as that descendant's parent.
 * Symlinks below a matched directory are entries of type "symlink" (never followed). Sockets, fifos and
 * device nodes are skipped.
 */
import { lstatSync, readdirSync, readlinkSync, type Dirent, type Stats } from 'node:fs';
import { resolve as resolveHost } from 'node:path';
import { ContextError } from '../errors.js';
import { resolveInRootSync } from '../fsutil/scoped.js';
import type { DockerIgnoreMatcher, MatchState } from './dockerignore.js';
import type { ContextWitness } from './witness.js';
import { cleanSlashPath } from '../fsutil/slashpath.js';
import { compileGlob, GlobSyntaxError, hasWildcard, unescapeGlob } from './goglob.js';

export type EntryType = 'file' | 'dir' | 'symlink';

export interface SelectedEntry {
  /** Slash path relative to the match: "" for the match itself, else e.g. "lib/a.js". */
  rel: string;
  /** Host path to read (inside the root). */
  hostPath: string;
  type: EntryType;
  /** lstat of hostPath. */
  stat: Stats;
  /** For symlinks: the link text, unchanged. */
  linkTarget?: string;
}

export interface SourceMatch {
  /** The matched path relative to the root as named (wildcards expanded, no leading "/"; "" = the root). */
  path: string;
  /** entries[0] is the match itself (rel ""); then, for a directory, what is below it. */
  entries: SelectedEntry[];
}

export interface SourceSelection {
  /** The source as given. */
  src: string;
  /** Was the source expanded as a wildcard? */
  wildcard: boolean;
  matches: SourceMatch[];
}

export interface SelectOptions {
  /** Host directory that stands for `/`. */
  root: string;
  sources: string[];
  exclude?: DockerIgnoreMatcher;
  allowWildcard: boolean;
  /** Follow a symlink that is itself a match (symlinks below a matched directory are never followed). */
  followSymlinks: boolean;
  /** For messages: "build context" (default) or e.g. "stage builder". */
  rootName?: string;
  /** Told every path whose lstat the selection depended on (see ./witness.ts). */
  witness?: ContextWitness;
}

/** Select the entries every source names. Throws ContextError COPY_SOURCE_NOT_FOUND for a source matching nothing. */
export async function selectSources(opts: SelectOptions): Promise<SourceSelection[]> {
  return opts.sources.map((src) => selectOne(opts, src));
}

function selectOne(opts: SelectOptions, src: string): SourceSelection {
  const rootName = opts.rootName ?? 'build context';
  const root = resolveHost(opts.root);
  const cleaned = cleanSlashPath(`/${src}`).slice(1); // "" = the root itself
  const wildcard = opts.allowWildcard && hasWildcard(cleaned);
  const notFound = (why?: string): ContextError =>
    new ContextError('COPY_SOURCE_NOT_FOUND', `"${src}": not found in ${rootName}${why ? `: ${why}` : ''}`, {
      hint: why ? 'remove the pattern from .dockerignore or add a "!" line for this path' : 'check the path; it is relative to the root of the ' + rootName,
    });

  const witness = opts.witness;
  const candidates = wildcard ? expandWildcard(root, cleaned, src, witness) : [cleaned];
  const matches: SourceMatch[] = [];
  let firstExcludedBy: string | undefined;
  for (const named of candidates) {
    const host = resolveInRootSync(root, named, { followFinal: opts.followSymlinks });
    const st = tryLstat(host);
    if (witness) witnessPath(witness, root, named, host, st);
    if (!st) continue;
    const type = entryType(st);
    if (!type) continue;
    const realRel = relTo(root, host);
    const namedExcl = named === '' ? undefined : opts.exclude?.explain(named);
    const realExcl = realRel === '.' || realRel === named ? undefined : opts.exclude?.explain(realRel);
    const excludedBy = namedExcl?.excluded ? namedExcl.pattern : realExcl?.excluded ? realExcl.pattern : undefined;
    const top: SelectedEntry = { rel: '', hostPath: host, type, stat: st };
    if (type === 'symlink') top.linkTarget = readLink(host);
    const entries: SelectedEntry[] = [top];
    if (excludedBy === undefined) {
      if (type === 'dir') walk(opts.exclude, host, realRel, '', stateFor(opts.exclude, realRel), entries, witness);
      matches.push({ path: named, entries });
      continue;
    }
    // Excluded: only a directory with a re-included descendant is still there.
    if (type === 'dir' && opts.exclude!.mayReinclude(realRel)) {
      walk(opts.exclude, host, realRel, '', stateFor(opts.exclude, realRel), entries, witness);
      if (entries.length > 1) {
        matches.push({ path: named, entries });
        continue;
      }
    }
    firstExcludedBy ??= excludedBy;
  }
  if (matches.length === 0) {
    throw notFound(firstExcludedBy !== undefined ? `excluded by .dockerignore pattern ${JSON.stringify(firstExcludedBy)}` : undefined);
  }
  return { src, wildcard, matches };
}

/** Walk `host` (a directory at `realRel` relative to root), appending entries below it. */
function walk(
  exclude: DockerIgnoreMatcher | undefined,
  host: string,
  realRel: string,
  rel: string,
  state: MatchState | undefined,
  out: SelectedEntry[],
  witness?: ContextWitness,
): void {
  let dirents: Dirent[];
  try {
    dirents = readdirSync(host, { withFileTypes: true });
  } catch (err) {
    throw new ContextError('CONTEXT_READ_FAILED', `cannot read directory ${rel || '.'}: ${(err as Error).message}`, { cause: err });
  }
  dirents.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const d of dirents) {
    const name = d.name;
    const childHost = `${host}/${name}`;
    const childReal = realRel === '.' ? name : `${realRel}/${name}`;
    const childRel = rel === '' ? name : `${rel}/${name}`;
    let childState: MatchState | undefined;
    let excluded = false;
    if (exclude && !exclude.empty) {
      const r = exclude.check(childReal, state);
      childState = r.state;
      excluded = r.result.excluded;
    }
    // An excluded file is never read or stat'ed (a third of a big context, typically); only an excluded
    // directory is looked into, for re-included descendants.
    if (excluded && !d.isDirectory()) continue;
    const st = lstatSync(childHost);
    witness?.see(childHost, st);
    const type = entryType(st);
    if (!type) continue;
    const entry: SelectedEntry = { rel: childRel, hostPath: childHost, type, stat: st };
    if (type === 'symlink') entry.linkTarget = readLink(childHost);
    if (!excluded) {
      out.push(entry);
      if (type === 'dir') walk(exclude, childHost, childReal, childRel, childState, out, witness);
    } else if (type === 'dir' && exclude!.mayReinclude(childReal)) {
      const below: SelectedEntry[] = [];
      walk(exclude, childHost, childReal, childRel, childState, below, witness);
      if (below.length > 0) out.push(entry, ...below);
    }
  }
}

/** Expand a wildcard source segment by segment (Go filepath.Match per segment; `*` never crosses `/`). */
function expandWildcard(root: string, cleaned: string, src: string, witness?: ContextWitness): string[] {
  let current: string[] = [''];
  for (const seg of cleaned.split('/')) {
    if (!hasWildcard(seg)) {
      const lit = unescapeGlob(seg);
      current = current.map((c) => (c === '' ? lit : `${c}/${lit}`));
      continue;
    }
    let re: RegExp;
    try {
      re = compileGlob(seg);
    } catch (err) {
      if (err instanceof GlobSyntaxError) {
        throw new ContextError('BAD_COPY_PATTERN', `"${src}": ${err.message}`, { cause: err });
      }
      throw err;
    }
    const next: string[] = [];
    for (const c of current) {
      let names: string[];
      try {
        const dir = resolveInRootSync(root, c);
        if (witness) witnessPath(witness, root, c, dir, tryLstat(dir));
        names = readdirSync(dir);
      } catch {
        continue; // not a directory, or missing
      }
      for (const n of names.sort()) if (re.test(n)) next.push(c === '' ? n : `${c}/${n}`);
    }
    current = next;
    if (current.length === 0) break;
  }
  return current;
}

/**
 * Tell the witness what resolving `named` to `host` depended on: the lstat of root, of every directory on
 * the way and of `host` itself. A path resolved through a symlink depends on more than that: distrust.
 */
function witnessPath(witness: ContextWitness, root: string, named: string, host: string, st: Stats | undefined): void {
  const lexical = named === '' ? root : root === '/' ? `/${named}` : `${root}/${named}`;
  if (host !== lexical) {
    witness.distrust(`source path ${named} resolves through a symlink`);
    return;
  }
  witness.see(root, tryLstat(root));
  let i = named.indexOf('/');
  while (i >= 0) {
    const dir = root === '/' ? `/${named.slice(0, i)}` : `${root}/${named.slice(0, i)}`;
    witness.see(dir, tryLstat(dir));
    i = named.indexOf('/', i + 1);
  }
  witness.see(host, st);
}

function stateFor(exclude: DockerIgnoreMatcher | undefined, realRel: string): MatchState | undefined {
  if (!exclude || exclude.empty || realRel === '.') return undefined;
  return exclude.stateOf(realRel);
}

function entryType(st: Stats): EntryType | undefined {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  return undefined;
}

function tryLstat(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}

function readLink(p: string): string {
  return readlinkSync(p);
}

/** Slash path of `host` relative to `root` ("." for the root itself). */
function relTo(root: string, host: string): string {
  if (host === root) return '.';
  return root === '/' ? host.slice(1) : host.slice(root.length + 1);
}
