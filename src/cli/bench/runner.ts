/**
 * How `tsbuild bench` runs a build: a child process of bin/tsbuild (the real command, with its real
 * start-up and its rebuild memo) with `--root` at a store of the bench's own and `--progress rawjson`,
 * whose lines are the data. Stores: `coldStore` (the user's base images and blobs, no cache), `cloneStore`
 * (a copy of a warm store for one run). Copies hard-link (blobs and committed snapshots are immutable, and
 * every store file is replaced by rename, never rewritten), falling back to `cp -a --reflink=auto`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TsbuildError } from '../../errors.js';
import type { ProgressEvent } from '../../progress/types.js';

export class BenchError extends TsbuildError {
  constructor(message: string, opts: { hint?: string; cause?: unknown } = {}) {
    super('BENCH_FAILED', message, opts);
  }
}

export interface ChildBuild {
  wallMs: number;
  startedAt: number;
  events: ProgressEvent[];
}

/** The command that starts bin/tsbuild (this process's Node and script). */
function tsbuildCommand(): [string, string[]] {
  const script = process.argv[1];
  if (!script) throw new BenchError('cannot tell how this tsbuild was started');
  return [process.execPath, [script]];
}

/** Run `tsbuild ARGS`; resolve with its events, reject with its output when it fails. */
export function runTsbuild(args: string[], what: string): Promise<ChildBuild> {
  const [cmd, pre] = tsbuildCommand();
  return new Promise((resolveRun, reject) => {
    const startedAt = Date.now();
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, [...pre, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let buf = '';
    const events: ProgressEvent[] = [];
    const text: string[] = [];
    const take = (line: string) => {
      if (line.startsWith('{')) {
        try {
          const o = JSON.parse(line) as { v?: number } & ProgressEvent;
          if (o.v === 1) {
            const { v: _v, ...ev } = o;
            events.push(ev as ProgressEvent);
            return;
          }
        } catch {
          /* not an event: keep it as text */
        }
      }
      if (line) text.push(line);
    };
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        take(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
    });
    child.on('error', (err) => reject(new BenchError(`${what}: cannot start tsbuild: ${err.message}`, { cause: err })));
    child.on('close', (code) => {
      take(buf);
      const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
      if (code !== 0) {
        const failed = events.find((e) => e.type === 'vertex.failed');
        const tail = text.slice(-12).join('\n');
        reject(new BenchError(`${what}: the build failed (exit ${code})${failed && failed.type === 'vertex.failed' ? ` at ${failed.name}` : ''}${tail ? `:\n${tail}` : ''}`));
        return;
      }
      resolveRun({ wallMs, startedAt, events });
    });
  });
}

/** Run `tsbuild ARGS` and return its stdout (e.g. --print-definition). */
export function tsbuildOutput(args: string[], what: string): string {
  const [cmd, pre] = tsbuildCommand();
  const r = spawnSync(cmd, [...pre, ...args], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, env: { ...process.env, NO_COLOR: '1' } });
  if (r.status !== 0) throw new BenchError(`${what}: tsbuild exited ${r.status}:\n${(r.stderr || '').trim().split('\n').slice(-12).join('\n')}`);
  return r.stdout;
}

/** Copy a directory tree: hard links when allowed (same filesystem), else a reflink or plain copy. */
export function copyTree(src: string, dest: string, opts: { link: boolean }): void {
  if (opts.link) {
    const r = spawnSync('cp', ['-al', src, dest], { encoding: 'utf8' });
    if (r.status === 0) return;
    spawnSync('rm', ['-rf', dest]);
  }
  const r = spawnSync('cp', ['-a', '--reflink=auto', src, dest], { encoding: 'utf8' });
  if (r.status !== 0) throw new BenchError(`cannot copy ${src} to ${dest}: ${r.stderr.trim()}`);
}

/** Store parts a copy leaves out: what running builds own, and the history of builds that are not ours. */
const NOT_COPIED = new Set(['state', 'history']);

/**
 * A copy of `root` for the bench: every part except NOT_COPIED (`parts`: only those). `link(part)`: hard
 * link that part. From the user's store only `content` and `snapshots` are linked (blobs and committed
 * snapshots are never written again; new ones are new files, metadata is replaced by rename); the rest is
 * copied, so nothing a bench build does (e.g. marking cache records used) reaches the user's store.
 */
export function copyStore(root: string, dest: string, opts: { link: (part: string) => boolean; parts?: string[] }): void {
  mkdirSync(dest, { recursive: true, mode: 0o700 });
  if (!existsSync(root)) return;
  for (const name of readdirSync(root)) {
    if (NOT_COPIED.has(name) || (opts.parts && !opts.parts.includes(name))) continue;
    copyTree(join(root, name), join(dest, name), { link: opts.link(name) });
  }
}

/** Total size of the blobs in a store's content store, by digest (for bytes written by a build). */
export function blobSizes(root: string): Map<string, number> {
  const dir = join(root, 'content', 'blobs', 'sha256');
  const out = new Map<string, number>();
  for (const name of existsSync(dir) ? readdirSync(dir) : []) {
    const st = statSync(join(dir, name), { throwIfNoEntry: false });
    if (st?.isFile()) out.set(name, st.size);
  }
  return out;
}

/**
 * The layer blob each step's cache record memoizes, by step name (the record keeps the step's description),
 * for the records whose blob is one of `fresh` (hex → size): the bytes a step wrote as its layer. Steps off
 * the output's layer chain keep no layer (their snapshot is used as it is) and write none.
 */
export function layerBytesByStep(root: string, fresh: Map<string, number>): Map<string, number> {
  const dir = join(root, 'cache', 'records');
  const out = new Map<string, number>();
  for (const name of existsSync(dir) ? readdirSync(dir) : []) {
    if (!name.endsWith('.json')) continue;
    try {
      const rec = JSON.parse(readFileSync(join(dir, name), 'utf8')) as { name?: string; layer?: { descriptor?: { digest?: string } } };
      const hex = rec.layer?.descriptor?.digest?.replace(/^sha256:/, '');
      const size = hex !== undefined ? fresh.get(hex) : undefined;
      if (rec.name !== undefined && size !== undefined) out.set(rec.name, (out.get(rec.name) ?? 0) + size);
    } catch {
      // a record being replaced: it is not this build's
    }
  }
  return out;
}
