/** Local sources (the build context): where they are on the host, what they exclude, and the checksum of a COPY's selection. */
import { ContextError } from '../../../src/errors.js';
import { checksumSelectionDetailed, type SelectionFile } from '../../../src/context/checksum.js';
import { DockerIgnoreMatcher } from '../../../src/context/dockerignore.js';
import { selectSources, type SourceSelection } from '../../../src/context/select.js';
import type { StatCache } from '../../../src/context/statcache.js';
import type { ContextWitness } from '../../../src/context/witness.js';
import type { CopyAction, LocalSource, Op } from '../../../src/llb/types.js';

export function localSourceOf(op: Op): LocalSource | undefined {
  return op.type === 'source' && op.source.kind === 'local' ? op.source : undefined;
}

export function localRoot(locals: Record<string, string>, source: LocalSource): string {
  const dir = locals[source.name];
  if (dir === undefined) {
    throw new ContextError('LOCAL_SOURCE_MISSING', `no directory was given for local source "${source.name}"`);
  }
  return dir;
}

/** The .dockerignore matcher of a local source, or undefined when it excludes nothing. */
export function localMatcher(source: LocalSource): DockerIgnoreMatcher | undefined {
  return source.excludePatterns.length ? new DockerIgnoreMatcher(source.excludePatterns) : undefined;
}

export interface LocalChecksumOptions {
  locals: Record<string, string>;
  statCache?: StatCache;
  /** Told every context path the selection depended on (see src/context/witness.ts). */
  witness?: ContextWitness;
}

/** Content digest of exactly the files `action` selects from the local source (after .dockerignore). */
export async function checksumLocalCopy(
  action: CopyAction,
  source: LocalSource,
  opts: LocalChecksumOptions,
): Promise<string> {
  return (await checksumLocalCopyDetailed(action, source, opts)).digest;
}

/**
 * The same, what the digest covers file by file when it was computed so (not taken from the stat cache),
 * and the selection itself (the copy uses it instead of walking again).
 */
export async function checksumLocalCopyDetailed(
  action: CopyAction,
  source: LocalSource,
  opts: LocalChecksumOptions,
): Promise<{ digest: string; files?: SelectionFile[]; selection: SourceSelection[] }> {
  const exclude = localMatcher(source);
  const selection = await selectSources({
    root: localRoot(opts.locals, source),
    sources: action.src,
    ...(exclude ? { exclude } : {}),
    allowWildcard: action.allowWildcard,
    followSymlinks: action.followSymlinks,
    ...(opts.witness ? { witness: opts.witness } : {}),
  });
  const sum = await checksumSelectionDetailed(selection, { includeOwnership: false, ...(opts.statCache ? { statCache: opts.statCache } : {}) });
  return { ...sum, selection };
}
