import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A dir with shims of `tools` (default mount, umount) that append their argv to `log`, then run the real tool. */
export function toolShims(dir: string, logFile: string, tools = ['mount', 'umount']): string {
  mkdirSync(dir, { recursive: true });
  const tr = execFileSync('sh', ['-c', 'command -v tr']).toString().trim(); // absolute: PATH may hold only the shims
  for (const tool of tools) {
    const real = execFileSync('sh', ['-c', `command -v ${tool}`]).toString().trim();
    // one line per run (a perl -e script's newlines become spaces)
    writeFileSync(join(dir, tool), `#!/bin/sh\nargs=$(printf '%s' "$*" | ${tr} '\\n' ' ')\nprintf '%s\\n' "${tool} $args" >> ${logFile}\nexec ${real} "$@"\n`);
    chmodSync(join(dir, tool), 0o755);
  }
  return dir;
}
