import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A dir with shims of `tools` (default mount, umount) that append their argv to `log`, then run the real tool. */
export function toolShims(dir: string, logFile: string, tools = ['mount', 'umount']): string {
  mkdirSync(dir, { recursive: true });
  for (const tool of tools) {
    const real = execFileSync('sh', ['-c', `command -v ${tool}`]).toString().trim();
    writeFileSync(join(dir, tool), `#!/bin/sh\necho "${tool} $*" >> ${logFile}\nexec ${real} "$@"\n`);
    chmodSync(join(dir, tool), 0o755);
  }
  return dir;
}
