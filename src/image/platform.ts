/**
 * The one platform matcher: parsing `os/arch[/variant]`, normalising it as containerd does (x86_64 →
 * amd64, aarch64 → arm64, arm64 → variant v8, arm → variant v7, amd64/v1 → amd64), comparing two
 * platforms, choosing an index entry for a platform, and this host's platform. Used by the CLI
 * (`--platform`), the frontend (`FROM --platform`), the solver (local image indexes) and the registry
 * client (manifest lists).
 */
import type { Descriptor, Platform } from './types.js';

const ARCH_ALIASES: Record<string, string> = { x86_64: 'amd64', 'x86-64': 'amd64', aarch64: 'arm64', armhf: 'arm', armel: 'arm', i386: '386', i686: '386' };

/** containerd's normal form: canonical architecture names and default variants (arm64 → v8, arm → v7). */
export function normalizePlatform(p: Platform): Platform {
  const os = p.os.toLowerCase();
  const rawArch = p.architecture.toLowerCase();
  const arch = ARCH_ALIASES[rawArch] ?? rawArch;
  let variant = p.variant?.toLowerCase() || undefined;
  if (rawArch === 'armhf') variant ??= 'v7';
  if (rawArch === 'armel') variant ??= 'v6';
  if (variant !== undefined && /^\d/.test(variant)) variant = 'v' + variant;
  if (arch === 'arm64' && (variant === undefined || variant === 'v8.0')) variant = 'v8';
  if (arch === 'arm' && variant === undefined) variant = 'v7';
  if (arch === 'amd64' && variant === 'v1') variant = undefined;
  return variant !== undefined ? { os, architecture: arch, variant } : { os, architecture: arch };
}

/** Parse `os/arch[/variant]` (lower-cased, not normalised); null when it is not of that form. */
export function parsePlatform(text: string): Platform | null {
  const parts = text.trim().toLowerCase().split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '')) return null;
  const p: Platform = { os: parts[0]!, architecture: parts[1]! };
  if (parts[2]) p.variant = parts[2];
  return p;
}

/**
 * The platform as BuildKit writes it (containerd's `platforms.Normalize` output): normalised, but arm64's
 * default variant v8 left out. What TARGETPLATFORM/TARGETVARIANT, image configs, index entries, output
 * subdirectories and progress names show: `linux/arm64`, `linux/arm/v7`, `linux/amd64`.
 */
export function specPlatform(p: Platform): Platform {
  const n = normalizePlatform(p);
  if (n.architecture === 'arm64' && n.variant === 'v8') return { os: n.os, architecture: n.architecture };
  return n;
}

/** `--platform linux/amd64,linux/arm64` (repeatable, comma-separated; `local` = this host): normalised, duplicates dropped; null names the bad entry. */
export function parsePlatformList(texts: string[]): { platforms: Platform[] } | { bad: string } {
  const platforms: Platform[] = [];
  for (const text of texts.flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '')) {
    const p = text === 'local' ? hostPlatform() : parsePlatform(text);
    if (!p) return { bad: text };
    const n = normalizePlatform(p);
    if (!platforms.some((q) => formatPlatform(q) === formatPlatform(n))) platforms.push(n);
  }
  return { platforms };
}

export function formatPlatform(p: Platform): string {
  return p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`;
}

/**
 * True when an image made for `have` serves a build for `want`: same os and architecture after
 * normalisation; the variant counts only when both name one (arm64 and arm name one by default).
 */
export function platformMatches(want: Platform, have: Platform): boolean {
  const w = normalizePlatform(want);
  const h = normalizePlatform(have);
  if (w.os !== h.os || w.architecture !== h.architecture) return false;
  if (w.variant === undefined || h.variant === undefined) return true;
  return w.variant === h.variant;
}

/**
 * The best index entry for `want`, as containerd's matcher chooses: the same normalised variant first,
 * then an entry that names no variant at all, then (when `want` names none) any entry of that os/arch.
 */
export function selectPlatform(manifests: Descriptor[], want: Platform): Descriptor | undefined {
  const w = normalizePlatform(want);
  const same = manifests.filter((m) => m.platform && normalizePlatform(m.platform).os === w.os && normalizePlatform(m.platform).architecture === w.architecture);
  return (
    same.find((m) => normalizePlatform(m.platform!).variant === w.variant) ??
    same.find((m) => !m.platform!.variant) ??
    (w.variant === undefined ? same[0] : undefined)
  );
}

/** The platform of this host, in OCI terms (Node's `x64` is OCI's `amd64`), normalised. */
export function hostPlatform(): Platform {
  const arch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return normalizePlatform({ os: 'linux', architecture: arch[process.arch] ?? process.arch });
}
