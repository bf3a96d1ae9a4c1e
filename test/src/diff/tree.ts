import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A stable, line-per-path description of a tree as a layer sees it: type, mode, owner, mtime in whole
 * seconds, content hash, link target, device numbers, link count, and the overlay opaque xattr.
 */
export function describeTree(root: string): string[] {
  const opaque = new Set(
    execFileSync('getfattr', ['-R', '-P', '-h', '--absolute-names', '-m', '^trusted\\.overlay\\.opaque$', '-d', root])
      .toString()
      .split('\n')
      .filter((l) => l.startsWith('# file: '))
      .map((l) => l.slice(8)),
  );
  const out: string[] = [];
  const visit = (dir: string, rel: string) => {
    for (const n of readdirSync(dir).sort()) {
      const abs = join(dir, n);
      const r = rel ? `${rel}/${n}` : n;
      const st = lstatSync(abs);
      const common = `mode=${(st.mode & 0o7777).toString(8)} uid=${st.uid} gid=${st.gid} mtime=${Math.floor(st.mtimeMs / 1000)}`;
      if (st.isDirectory()) {
        out.push(`${r}/ dir ${common}${opaque.has(abs) ? ' opaque' : ''}`);
        visit(abs, r);
      } else if (st.isFile()) {
        const h = createHash('sha256').update(readFileSync(abs)).digest('hex').slice(0, 16);
        out.push(`${r} file ${common} size=${st.size} sha=${h} nlink=${st.nlink}`);
      } else if (st.isSymbolicLink()) {
        out.push(`${r} symlink -> ${readlinkSync(abs)} uid=${st.uid} gid=${st.gid} mtime=${Math.floor(st.mtimeMs / 1000)}`);
      } else if (st.isCharacterDevice() && st.rdev === 0) {
        out.push(`${r} whiteout`);
      } else {
        const t = st.isFIFO() ? 'fifo' : st.isCharacterDevice() ? 'chardev' : st.isBlockDevice() ? 'blockdev' : 'other';
        out.push(`${r} ${t} ${common} rdev=${st.rdev}`);
      }
    }
  };
  visit(root, '');
  return out;
}
