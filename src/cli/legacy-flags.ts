/**
 * Legacy `docker build` flags that `docker buildx build` still accepts (hidden there): accepted here too,
 * so a CI file written for docker keeps working, with a one-line warning for each one that does nothing.
 * `--memory`, `--cpu-period`, `--cpu-quota`, `--shm-size`, `--ulimit`, `--cgroup-parent` are real (./sandbox-args.ts).
 */

/** parseArgs option definitions (buildx's names and shorthands). */
export const LEGACY_OPTIONS = {
  compress: { type: 'boolean' },
  isolation: { type: 'string' },
  'security-opt': { type: 'string', multiple: true },
  squash: { type: 'boolean' },
  'memory-swap': { type: 'string' },
  'cpu-shares': { type: 'string', short: 'c' },
  'cpuset-cpus': { type: 'string' },
  'cpuset-mems': { type: 'string' },
  rm: { type: 'boolean' },
  'force-rm': { type: 'boolean' },
  'disable-content-trust': { type: 'boolean' },
} as const;

/** Why each flag does nothing here (shown as `WARNING: --flag: why`). */
const WHY: Record<keyof typeof LEGACY_OPTIONS, string> = {
  compress: 'the context is read in place, there is nothing to compress; ignored',
  isolation: 'the isolation flag is deprecated with BuildKit; every RUN step runs in runc; ignored',
  'security-opt': 'the security-opt flag is deprecated; use RUN --security=insecure with --allow security.insecure; ignored',
  squash: 'squash is removed with BuildKit: squash inside the build with a multi-stage Dockerfile; ignored',
  'memory-swap': 'not supported (steps get no swap limit beyond --memory); ignored',
  'cpu-shares': 'not supported (use --cpus or --cpu-quota); ignored',
  'cpuset-cpus': 'not supported (use --cpus or --cpu-quota); ignored',
  'cpuset-mems': 'not supported; ignored',
  rm: 'intermediate containers are always removed; ignored',
  'force-rm': 'intermediate containers are always removed',
  'disable-content-trust': 'image signatures (content trust) are not checked; ignored',
};

/**
 * One warning per legacy flag that was given and changes nothing. `--rm`, `--force-rm` and
 * `--disable-content-trust` (given as true) ask for what tsbuild does anyway: no warning.
 * `explicitFalse` holds boolean flags given as `--flag=false`.
 */
export function legacyNotes(values: Record<string, unknown>, explicitFalse: ReadonlySet<string> = new Set()): string[] {
  const notes: string[] = [];
  for (const name of Object.keys(LEGACY_OPTIONS) as (keyof typeof LEGACY_OPTIONS)[]) {
    const given = values[name] !== undefined || explicitFalse.has(name);
    if (!given) continue;
    if (name === 'rm' || name === 'disable-content-trust') {
      if (explicitFalse.has(name)) notes.push(`--${name}=false: ${WHY[name]}`);
      continue;
    }
    if (name === 'force-rm') continue;
    if (explicitFalse.has(name)) continue; // --squash=false, --compress=false: the default
    notes.push(`--${name}: ${WHY[name]}`);
  }
  return notes;
}
