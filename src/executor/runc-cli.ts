import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { SandboxError } from '../errors.js';

/** Container ids are `tsb-<pid of the tsbuild process>-<random>`; cleanup uses the pid to spare live builds. */
export const ID_PREFIX = 'tsb-';

/** Run `<runtime> --root <root> ...args`; resolves with stdout, rejects with stderr attached. */
export function runcCmd(runtime: string, root: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(runtime, ['--root', root, ...args], (err, stdout, stderr) => {
      if (err) reject(Object.assign(err, { stderr: String(stderr) }));
      else resolve(String(stdout));
    });
  });
}

export function runtimeNotFound(runtime: string, cause: unknown): SandboxError {
  return new SandboxError('RUNTIME_NOT_FOUND', `OCI runtime "${runtime}" not found`, { cause, hint: 'apt-get install runc' });
}

/**
 * runc exits 1 both when the step exits 1 and when runc itself fails. Its own failures are the
 * error entries of its JSON log (--log); the step's output never goes there.
 */
export async function runcError(logFile: string): Promise<string | undefined> {
  const text = await readFile(logFile, 'utf8').catch(() => '');
  let msg: string | undefined;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const e = JSON.parse(line) as { level?: string; msg?: string };
      if (e.level === 'error' || e.level === 'fatal') msg = e.msg ?? msg;
    } catch {
      // not JSON: ignore
    }
  }
  return msg;
}
