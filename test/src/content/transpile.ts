import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

/**
 * Transpile `entry` (a repo-relative .ts path) and every module it imports relatively into `outDir`,
 * keeping the tree shape, so a plain `node` child process can import the real code.
 * Returns the absolute path of the entry's .js file.
 */
export async function transpileForChild(entry: string, outDir: string): Promise<string> {
  await writeFile(join(outDir, 'package.json'), '{"type":"module"}\n');
  const seen = new Set<string>();
  const queue = [resolve(repoRoot, entry)];
  while (queue.length) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const src = await readFile(file, 'utf8');
    const out = ts.transpileModule(src, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
      fileName: file,
    }).outputText;
    const dest = join(outDir, relative(repoRoot, file)).replace(/\.ts$/, '.js');
    await mkdir(dirname(dest), { recursive: true });
    await writeFile(dest, out);
    for (const m of src.matchAll(/from\s+'(\.{1,2}\/[^']+)\.js'/g)) {
      queue.push(resolve(dirname(file), m[1] + '.ts'));
    }
  }
  return join(outDir, entry.replace(/\.ts$/, '.js'));
}
