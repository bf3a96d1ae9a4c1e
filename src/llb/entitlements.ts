/**
 * Entitlements: what a Dockerfile may only do with the consent of whoever runs the build (BuildKit's
 * `--allow`). `network.host` lets a RUN step share the host's network (its loopback services included);
 * `security.insecure` lets a RUN step run without the sandbox (every capability, no seccomp). A Definition
 * asking for either without the grant is refused before anything runs, naming the step's Dockerfile line
 * and the flag that grants it.
 */
import { DockerfileError, TsbuildError } from '../errors.js';
import type { Definition, ExecOp } from './types.js';

export const ENTITLEMENTS = ['network.host', 'security.insecure'] as const;
export type Entitlement = (typeof ENTITLEMENTS)[number];

export function isEntitlement(v: string): v is Entitlement {
  return (ENTITLEMENTS as readonly string[]).includes(v);
}

/** The entitlements each exec op needs. */
export function entitlementsOf(op: ExecOp): Entitlement[] {
  const out: Entitlement[] = [];
  if (op.network === 'host') out.push('network.host');
  if (op.security === 'insecure') out.push('security.insecure');
  return out;
}

/** Throws for the first op (in Dockerfile order) that needs an entitlement not in `allowed`. */
export function checkEntitlements(def: Definition, allowed: ReadonlySet<string>): void {
  const denied: { need: Entitlement; digest: string; line: number }[] = [];
  for (const [digest, op] of Object.entries(def.ops)) {
    if (op.type !== 'exec') continue;
    for (const need of entitlementsOf(op)) {
      if (!allowed.has(need)) denied.push({ need, digest, line: def.metadata[digest]?.location?.line ?? Number.MAX_SAFE_INTEGER });
    }
  }
  if (denied.length === 0) return;
  denied.sort((a, b) => a.line - b.line);
  const { need, digest } = denied[0]!;
  const what = need === 'network.host' ? 'RUN --network=host' : 'RUN --security=insecure';
  const message = `${what}: ${need} is not allowed`;
  const hint = `grant it with --allow ${need} (only for a Dockerfile you trust)`;
  const loc = def.metadata[digest]?.location;
  if (loc) throw new DockerfileError('ENTITLEMENT_DENIED', message, { file: loc.file, line: loc.line }, { hint });
  throw new TsbuildError('ENTITLEMENT_DENIED', message, { hint });
}
