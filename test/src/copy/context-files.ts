/** The copy tests' way of making context files: content, mode and an old mtime (so a copy's mtime is checkable). */
import { chmodSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A writer of `<dir>/<rel>` files with the given content, mode (default 0644) and mtime `at`. */
export function contextWriter(dir: () => string, at: Date): (rel: string, content?: string, mode?: number) => void {
  return (rel, content = rel, mode = 0o644) => {
    const path = join(dir(), rel);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, content);
    chmodSync(path, mode);
    utimesSync(path, at, at);
  };
}
