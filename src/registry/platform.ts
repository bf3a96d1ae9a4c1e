/** Choosing the manifest of a platform from an image index / manifest list, as containerd's matcher does. */
import type { Descriptor, Platform } from '../image/types.js';

function normVariant(p: Platform): string | undefined {
  if (p.architecture === 'arm64' && (p.variant === undefined || p.variant === '')) return 'v8';
  if (p.architecture === 'amd64' && p.variant === 'v1') return undefined;
  return p.variant || undefined;
}

/** The best entry for `want`: same os and architecture, same variant first, then one without a variant. */
export function selectPlatform(manifests: Descriptor[], want: Platform): Descriptor | undefined {
  const candidates = manifests.filter((m) => m.platform && m.platform.os === want.os && m.platform.architecture === want.architecture);
  const wv = normVariant(want);
  return (
    candidates.find((m) => normVariant(m.platform!) === wv) ??
    candidates.find((m) => !m.platform!.variant) ??
    (wv === undefined ? candidates[0] : undefined)
  );
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? '/' + p.variant : ''}`;
}
