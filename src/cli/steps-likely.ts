/**
 * Whether a build that reached the full path (not the rebuild memo's replay) will most likely run a step, so
 * that the system call helper (src/proc/helper.ts: mounts and step locks) can start while the Dockerfile is
 * converted and the base image checked with its registry instead of at the first missed step's lock. Likely: a store this
 * build created (nothing is cached), or a command whose rebuild memo exists (the replay ran and found
 * something changed). Not assumed otherwise: a fully cached build of a command without a memo (an export, a
 * push, --cache-from) would pay the helper's start (a fork of this process) for nothing.
 */
import { existsSync } from 'node:fs';

export function stepsLikely(opts: { newStore: boolean; memoFile: string | undefined }): boolean {
  return opts.newStore || (opts.memoFile !== undefined && existsSync(opts.memoFile));
}
