/**
 * Rootless builds: an ordinary user's `tsbuild build` re-executes itself in a new user and mount
 * namespace (`unshare --user --map-root-user --map-auto --mount`, util-linux), where the user is root
 * over the ranges /etc/subuid and /etc/subgid give it (newuidmap/newgidmap, Debian `uidmap`). Inside,
 * overlayfs runs with `userxattr`, runc with `--rootless true`, and the store is the user's own
 * ($XDG_DATA_HOME/tsbuild). Mounts live in the child's mount namespace and vanish with it.
 * What the user namespace cannot do is refused clearly: cgroup limits without delegated controllers
 * (--memory, --cpus, --pids-limit, --cgroup-parent), and the slirp4netns network where /dev/net/tun is
 * root-only (`default` then means the host network).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { SandboxError } from '../errors.js';
import { inUserNamespace } from '../proc/userns.js';
import { storeRoot } from './store-root.js';

/** True when this process must re-execute itself in a user namespace to build. */
export function needsUserNamespace(): boolean {
  const uid = process.getuid?.();
  return uid !== undefined && uid !== 0 && !inUserNamespace() && process.env.TSBUILD_ROOTLESS !== '0';
}

/** The subordinate id range of this user in /etc/subuid or /etc/subgid, if any. */
function subRange(file: string, name: string, id: number): string | undefined {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  return text.split('\n').find((l) => {
    const [who, , count] = l.split(':');
    return (who === name || who === String(id)) && Number(count) > 0;
  });
}

/** Run `tsbuild build ARGV` again inside the user namespace; resolves with its exit code. */
export async function reexecInUserNamespace(argv: string[], rootFlag: string | undefined): Promise<number> {
  const user = userInfo();
  for (const [file, id] of [['/etc/subuid', user.uid], ['/etc/subgid', user.gid]] as const) {
    if (!subRange(file, user.username, id)) {
      throw new SandboxError('ROOTLESS_NO_SUBIDS', `rootless build: ${file} has no range for user ${user.username}`, {
        hint: `as root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${user.username} (or run tsbuild as root)`,
      });
    }
  }
  const env = { ...process.env, TSBUILD_ROOT: storeRoot(rootFlag) };
  const child = spawn('unshare', ['--user', '--map-root-user', '--map-auto', '--mount', '--fork', '--', process.execPath, process.argv[1]!, 'build', ...argv], {
    stdio: 'inherit',
    env,
  });
  // Ctrl-C reaches the whole foreground process group (the child handles it); SIGTERM is forwarded.
  const onInt = () => {};
  const onTerm = () => child.kill('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  try {
    return await new Promise<number>((resolve, reject) => {
      child.once('error', (err: NodeJS.ErrnoException) =>
        reject(
          new SandboxError('ROOTLESS_UNAVAILABLE', `rootless build: cannot start unshare: ${err.message}`, {
            hint: 'apt-get install util-linux uidmap (newuidmap, newgidmap), or run tsbuild as root',
          }),
        ),
      );
      child.once('close', (code, sig) => resolve(code ?? (sig ? 128 + 15 : 1)));
    });
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
}
