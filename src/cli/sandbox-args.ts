/**
 * The RUN-sandbox flags of `tsbuild build` (docker build's syntax): --network, --secret, --ssh,
 * --memory, --cpu-quota, --cpu-period, --cpus, --pids-limit, --ulimit, --shm-size, --cgroup-parent.
 * Parsing only: reading secret files and starting SSH agents happens in ./sandbox.ts.
 */
import { totalmem } from 'node:os';
import { UsageError } from '../errors.js';
import type { ResourceLimits } from '../executor/types.js';
import { ENTITLEMENTS, isEntitlement, type Entitlement } from '../llb/entitlements.js';

export interface SecretFlag {
  id: string;
  /** A file to read the value from. */
  src?: string;
  /** An environment variable to read the value from. */
  env?: string;
}

export interface SshFlag {
  id: string;
  /** Agent sockets or private key files; none = $SSH_AUTH_SOCK. */
  paths: string[];
}

export interface SandboxArgs {
  network: 'default' | 'host' | 'none';
  secrets: SecretFlag[];
  ssh: SshFlag[];
  limits: ResourceLimits;
  /** --allow network.host,security.insecure (repeatable); `--network host` grants network.host, as buildx. */
  allow: Entitlement[];
}

/** parseArgs option definitions for these flags. */
export const SANDBOX_OPTIONS = {
  network: { type: 'string' },
  secret: { type: 'string', multiple: true },
  ssh: { type: 'string', multiple: true },
  memory: { type: 'string', short: 'm' },
  'cpu-quota': { type: 'string' },
  'cpu-period': { type: 'string' },
  cpus: { type: 'string' },
  'pids-limit': { type: 'string' },
  ulimit: { type: 'string', multiple: true },
  'shm-size': { type: 'string' },
  'cgroup-parent': { type: 'string' },
  allow: { type: 'string', multiple: true },
} as const;

type Values = Partial<Record<keyof typeof SANDBOX_OPTIONS, string | string[] | boolean | undefined>>;

export function parseSandboxArgs(values: Values): SandboxArgs {
  const str = (k: keyof typeof SANDBOX_OPTIONS) => values[k] as string | undefined;
  const list = (k: keyof typeof SANDBOX_OPTIONS) => (values[k] as string[] | undefined) ?? [];
  const network = str('network') ?? 'default';
  if (network !== 'default' && network !== 'host' && network !== 'none') {
    throw new UsageError(`invalid --network "${network}": expected default, host or none`);
  }
  const limits: ResourceLimits = {};
  const mem = str('memory');
  if (mem !== undefined) limits.memoryBytes = bytes('--memory', mem, 6 * 1024 * 1024);
  const shm = str('shm-size');
  // buildx: 0 (or an empty value) means the default size; more than the host's memory is no limit at all.
  if (shm !== undefined && !/^(0+(\.0*)?[bkmgtp]?)?$/i.test(shm.trim())) limits.shmSizeBytes = bytes('--shm-size', shm, 1, totalmem());
  const period = str('cpu-period');
  if (period !== undefined) limits.cpuPeriod = int('--cpu-period', period, 1000, 1_000_000);
  const quota = str('cpu-quota');
  if (quota !== undefined) limits.cpuQuota = int('--cpu-quota', quota, 1000, Number.MAX_SAFE_INTEGER);
  const cpus = str('cpus');
  if (cpus !== undefined) {
    if (quota !== undefined) throw new UsageError('--cpus and --cpu-quota cannot be used together');
    const n = Number(cpus);
    if (!/^\d+(\.\d+)?$/.test(cpus) || !(n > 0)) throw new UsageError(`invalid --cpus "${cpus}": expected a positive number such as 1.5`);
    if (n > 1_000_000) throw new UsageError(`invalid --cpus "${cpus}": at most 1000000`);
    limits.cpuPeriod ??= 100000;
    limits.cpuQuota = Math.round(n * limits.cpuPeriod);
  }
  const pids = str('pids-limit');
  if (pids !== undefined) limits.pidsLimit = int('--pids-limit', pids, 1, 4194304);
  const ulimits = list('ulimit').map(parseUlimit);
  if (ulimits.length > 0) limits.ulimits = ulimits;
  const parent = str('cgroup-parent');
  if (parent !== undefined) {
    if (parent === '' || parent.split('/').includes('..')) throw new UsageError(`invalid --cgroup-parent "${parent}"`);
    limits.cgroupParent = parent;
  }
  const allow = new Set<Entitlement>();
  for (const v of list('allow').flatMap((a) => a.split(',')).map((a) => a.trim())) {
    if (!isEntitlement(v)) throw new UsageError(`invalid --allow "${v}": unknown entitlement (expected ${ENTITLEMENTS.join(' or ')})`);
    allow.add(v);
  }
  // buildx: choosing the host network on the command line is the consent.
  if (network === 'host') allow.add('network.host');
  return { network, secrets: list('secret').map(parseSecret), ssh: list('ssh').map(parseSsh), limits, allow: [...allow] };
}

function int(flag: string, v: string, min: number, max: number): number {
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new UsageError(`invalid ${flag} "${v}": expected a whole number from ${min} to ${max}`);
  return Number(v);
}

/** Docker's RAMInBytes: "64m", "1g", "512k", "1024" (bytes); units are powers of 1024. */
export function bytes(flag: string, v: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const m = /^(\d+(?:\.\d+)?)\s*([bkmgtp]?)i?b?$/i.exec(v.trim());
  if (!m) throw new UsageError(`invalid ${flag} "${v}": expected a size such as 64m or 1g`);
  const mult = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 }[m[2]!.toLowerCase() as ''];
  const n = Math.floor(Number(m[1]) * mult);
  if (n < min) throw new UsageError(`invalid ${flag} "${v}": the minimum is ${min >= 1024 * 1024 ? `${min / 1024 / 1024}m` : `${min} bytes`}`);
  if (!(n <= max)) throw new UsageError(`invalid ${flag} "${v.slice(0, 40)}": the maximum is ${max === Number.MAX_SAFE_INTEGER ? `${max} bytes` : `${Math.floor(max / 1024 / 1024)}m (the host's memory)`}`);
  return n;
}

const ULIMITS: Record<string, string> = {
  core: 'RLIMIT_CORE', cpu: 'RLIMIT_CPU', data: 'RLIMIT_DATA', fsize: 'RLIMIT_FSIZE', locks: 'RLIMIT_LOCKS',
  memlock: 'RLIMIT_MEMLOCK', msgqueue: 'RLIMIT_MSGQUEUE', nice: 'RLIMIT_NICE', nofile: 'RLIMIT_NOFILE',
  nproc: 'RLIMIT_NPROC', rss: 'RLIMIT_RSS', rtprio: 'RLIMIT_RTPRIO', rttime: 'RLIMIT_RTTIME',
  sigpending: 'RLIMIT_SIGPENDING', stack: 'RLIMIT_STACK', as: 'RLIMIT_AS',
};

/** `nofile=1024:2048`, `nproc=512` (soft = hard). */
export function parseUlimit(v: string): { type: string; soft: number; hard: number } {
  const m = /^([a-z]+)=(-?\d+)(?::(-?\d+))?$/.exec(v);
  const type = m ? ULIMITS[m[1]!] : undefined;
  if (!m || !type) throw new UsageError(`invalid --ulimit "${v}": expected NAME=SOFT[:HARD] with NAME one of ${Object.keys(ULIMITS).join(', ')}`);
  const lim = (s: string) => (s === '-1' ? 2 ** 64 - 1 : Number(s));
  const soft = lim(m[2]!);
  const hard = m[3] !== undefined ? lim(m[3]) : soft;
  if (soft > hard) throw new UsageError(`invalid --ulimit "${v}": the soft limit is above the hard limit`);
  return { type, soft, hard };
}

/** buildx's `id=NAME,src=FILE` / `id=NAME,env=VAR` (also type=file|env, source=, required keys as docker). */
export function parseSecret(v: string): SecretFlag {
  const kv: Record<string, string> = {};
  for (const part of v.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new UsageError(`invalid --secret "${v}": expected id=NAME,src=FILE or id=NAME,env=VAR`);
    kv[part.slice(0, eq).trim().toLowerCase()] = part.slice(eq + 1).trim();
  }
  const id = kv.id;
  if (!id) throw new UsageError(`invalid --secret "${v}": id=NAME is required`);
  const src = kv.src ?? kv.source;
  const type = kv.type;
  if (type !== undefined && type !== 'file' && type !== 'env') throw new UsageError(`invalid --secret "${v}": type must be file or env`);
  if (kv.env !== undefined || type === 'env') return { id, env: kv.env ?? src ?? id };
  if (src !== undefined) return { id, src };
  return { id };
}

/** `default`, `default=$SSH_AUTH_SOCK`, `id=/path/key1,/path/key2`. */
export function parseSsh(v: string): SshFlag {
  const eq = v.indexOf('=');
  const id = eq < 0 ? v : v.slice(0, eq);
  if (!/^[A-Za-z0-9_.-]+$/.test(id)) throw new UsageError(`invalid --ssh "${v}": expected ID[=SOCKET|KEY[,KEY...]]`);
  return { id, paths: eq < 0 ? [] : v.slice(eq + 1).split(',').filter((p) => p !== '') };
}
