/**
 * The reference BuildKit (Docker 26.1 + embedded BuildKit v0.13 + buildx 0.13, `../shared/reference/buildkit.sh`)
 * and what the differential suite compares: a normalised file tree and image config of an OCI archive.
 * The reference daemon cannot reach the internet: base images come from a TestRegistry on 127.0.0.1 (docker
 * treats 127.0.0.1 registries as insecure-allowed), and every build uses `--network host` (no bridge).
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { repo } from './harness.js';

export const referenceScript = join(repo, '..', 'shared', 'reference', 'buildkit.sh');

export interface Reference {
  docker: string;
  env: Record<string, string>;
  /** This process started the daemon (so stopReference() stops it); false when it was already running. */
  started: boolean;
}

function running(env: Record<string, string>, docker: string): boolean {
  try {
    execFileSync(docker, ['info'], { env: { ...process.env, ...env }, stdio: 'ignore', timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
}

/** Start the reference (fetches it the first time; throws when the mirror or the daemon fails: never skips). */
export function startReference(): Reference {
  if (!existsSync(referenceScript)) throw new Error(`the reference BuildKit script is missing: ${referenceScript}`);
  const before = envOf();
  const wasRunning = existsSync(before.docker) && running(before.env, before.docker);
  try {
    execFileSync('bash', [referenceScript, 'start'], { stdio: 'pipe' });
  } catch (err: any) {
    throw new Error(`cannot start the reference BuildKit (${referenceScript} start):\n${err.stderr?.toString() ?? err}`);
  }
  return { ...envOf(), started: !wasRunning };
}

/** Stop the reference daemon if startReference() started it. */
export function stopReference(ref: Reference | undefined): void {
  if (ref?.started) execFileSync('bash', [referenceScript, 'stop'], { stdio: 'pipe' });
}

function envOf(): { docker: string; env: Record<string, string> } {
  const line = execFileSync('bash', [referenceScript, 'env']).toString().trim();
  const env: Record<string, string> = {};
  for (const kv of line.split(/\s+/)) {
    const i = kv.indexOf('=');
    env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  const docker = env.DOCKER!;
  delete env.DOCKER;
  return { docker, env };
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Run the reference's docker CLI. */
export function docker(ref: Reference, args: string[]): Promise<Run> {
  return run(ref.docker, args, ref.env);
}

/** A small promise queue: at most `n` tasks at once. */
export function limiter(n: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (active >= n) await new Promise<void>((r) => waiting.push(r));
    active++;
    try {
      return await task();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}

/**
 * Point a fixture's base image `busybox` at `image` (a registry name both builders can pull): in FROM and ARG
 * lines and in `--from=` / `from=` flags. A path like /bin/busybox is left alone.
 */
export function rewriteBase(dockerfile: string, image: string): string {
  const token = /(^|[\s=-])busybox(?=$|[\s}$:])/g;
  return dockerfile
    .split('\n')
    .map((line) => {
      if (/^\s*(FROM|ARG)\s/i.test(line)) return line.replace(token, `$1${image}`);
      return line.replace(/((?:--from|from)=)busybox(?=$|[\s,:])/g, `$1${image}`);
    })
    .join('\n');
}

/** The root filesystem of image `tag` in an OCI archive, unpacked with umoci (an independent tool). */
export function unpackRootfs(workDir: string, archive: string, tag: string): string {
  const layout = join(workDir, `layout-${tag}`);
  const rootfs = join(workDir, `rootfs-${tag}`);
  execFileSync('mkdir', ['-p', layout]);
  execFileSync('tar', ['-xf', archive, '-C', layout]);
  // raw unpack: the rootfs only (a config.json would need the image's USER to exist in its passwd file).
  execFileSync('umoci', ['raw', 'unpack', '--image', `${layout}:${tag}`, rootfs], { stdio: 'pipe' });
  return rootfs;
}

/** Extended attributes of every entry under `root`, by relative path (getfattr from Debian's attr). */
function xattrs(root: string): Map<string, string> {
  const out = new Map<string, string>();
  let text = '';
  try {
    text = execFileSync('getfattr', ['-R', '-h', '-d', '-m', '-', '-e', 'hex', '.'], { cwd: root, stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 << 20 }).toString();
  } catch (err: any) {
    text = err.stdout?.toString() ?? '';
  }
  let cur = '';
  for (const line of text.split('\n')) {
    if (line.startsWith('# file: ')) cur = line.slice(8).replace(/^\.\/?/, '');
    else if (line && cur !== undefined) out.set(cur, (out.get(cur) ? out.get(cur) + ' ' : '') + line);
  }
  return out;
}

/** path, type, mode, uid:gid, size, content digest, link target and xattrs of everything under `root`. */
export function normalisedTree(root: string): string[] {
  const attrs = xattrs(root);
  const out: string[] = [];
  const visit = (rel: string) => {
    const host = rel ? join(root, rel) : root;
    const st = lstatSync(host);
    const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
    const owner = `${st.uid}:${st.gid}`;
    const x = attrs.get(rel) ? ` xattrs[${attrs.get(rel)}]` : '';
    const name = rel || '.';
    if (st.isSymbolicLink()) out.push(`${name} link ${owner} -> ${readlinkSync(host)}${x}`);
    else if (st.isDirectory()) {
      out.push(`${name}/ dir ${mode} ${owner}${x}`);
      for (const e of readdirSync(host).sort()) visit(rel ? `${rel}/${e}` : e);
    } else if (st.isFile()) {
      const digest = createHash('sha256').update(readFileSync(host)).digest('hex').slice(0, 16);
      out.push(`${name} file ${mode} ${owner} ${st.size} ${digest}${x}`);
    } else {
      const kind = st.isCharacterDevice() ? 'char' : st.isBlockDevice() ? 'block' : st.isFIFO() ? 'fifo' : 'socket';
      out.push(`${name} ${kind} ${mode} ${owner} ${st.rdev}${x}`);
    }
  };
  visit('');
  return out;
}

const CONFIG_KEYS = ['Env', 'Cmd', 'Entrypoint', 'WorkingDir', 'User', 'ExposedPorts', 'Labels', 'Volumes', 'StopSignal', 'Healthcheck', 'Shell', 'OnBuild'];

/** The compared part of an image config: the run config fields, and the history's length and empty_layer flags. */
export function normalisedConfig(image: Record<string, any>): Record<string, unknown> {
  const cfg = image.config ?? {};
  const out: Record<string, unknown> = {};
  for (const k of CONFIG_KEYS) {
    const v = cfg[k];
    // null, [] and {} mean "not set" in both Docker's and BuildKit's writers.
    if (v === undefined || v === null || v === '' || (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && Object.keys(v).length === 0)) continue;
    out[k] = v;
  }
  const history: any[] = image.history ?? [];
  out.history = history.map((h) => (h.empty_layer ? 'empty' : 'layer'));
  out.layers = (image.rootfs?.diff_ids ?? []).length;
  return out;
}
