/** What a build's CONTEXT argument names, as buildx decides it (no imports: the rebuild memo reads it at startup). */

/** A git repository: git@…, git://, ssh://, github.com/…, or an http(s) URL whose path ends in .git. */
export function isGitContext(context: string): boolean {
  if (/^(git@|git:\/\/|ssh:\/\/|github\.com\/)/.test(context)) return true;
  if (/^https?:\/\//.test(context)) return /\.git(#|$)/.test(context.split('?')[0]!);
  return false;
}

/** An http(s) URL of a tarball or a Dockerfile. */
export function isUrlContext(context: string): boolean {
  return /^https?:\/\//.test(context) && !isGitContext(context);
}

/** Anything but a local directory: stdin (`-`), git, or a URL. */
export function isRemoteContext(context: string): boolean {
  return context === '-' || isGitContext(context) || isUrlContext(context);
}
