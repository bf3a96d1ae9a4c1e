/**
 * The rebuild memo's tag check through the full registry client (auth challenges, Docker credentials, a
 * certs.d CA, the https→http fallback): used by the replay when the bare HEAD of ./tag-check.ts could not
 * tell (a 401, a TLS error, anything unusual). It asks what the normal path asks (./resolve-image.ts), so
 * the memo answers only when the normal path would have used the same image. Bundled as its own entry
 * (scripts/bundle.mjs) so the replay loads undici only when it needs it.
 */
import { makeRegistryClient } from './registry-client.js';
import { RegistryError } from '../registry/errors.js';
import type { TagCheck, TagState } from './tag-check.js';

export async function checkTagWithClient(root: string, checks: TagCheck[], insecure: string[]): Promise<TagState[]> {
  const client = makeRegistryClient(root, { insecure });
  return Promise.all(
    checks.map(async (c): Promise<TagState> => {
      try {
        const head = await client.resolve({ domain: c.domain, path: c.path, tag: c.tag });
        if (!head) return { state: 'unknown', why: 'the tag is not in the registry' };
        return head.digest === c.digest ? { state: 'fresh' } : { state: 'moved', digest: head.digest };
      } catch (err) {
        // The normal path says what went wrong (it warns and uses the store's copy, or fails).
        if (err instanceof RegistryError) return { state: 'unknown', why: err.code };
        throw err;
      }
    }),
  );
}
