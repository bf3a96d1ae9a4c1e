/**
 * Enforces design.md's import rules by scanning every import specifier in the source tree:
 * 1. core src/* (not src/cli) imports only src/* and npm packages;
 * 2. frontend/, solver/, exporters/ import only src/* (and themselves), never each other;
 * 3. only src/cli/build.ts wires frontend, solver and exporters together.
 * Also: only frontend/ imports dockerfile-ast.
 */
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { builtinModules } from 'node:module';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sourceFiles(p));
    else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Every module specifier in a file: static imports/exports, dynamic import() with a literal. */
export function specifiers(text: string): string[] {
  const found: string[] = [];
  const re = /(?:^|[^\w.])(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|(?:^|[^\w.])import\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm;
  for (let m; (m = re.exec(text)); ) found.push((m[1] ?? m[2] ?? m[3])!);
  return found;
}

type Area = 'src-core' | 'src-cli' | 'frontend' | 'solver' | 'exporters' | 'other';
function areaOf(file: string): Area {
  const rel = relative(repo, file).split(sep).join('/');
  if (rel.startsWith('src/cli/')) return 'src-cli';
  if (rel.startsWith('src/')) return 'src-core';
  if (rel.startsWith('frontend/')) return 'frontend';
  if (rel.startsWith('solver/')) return 'solver';
  if (rel.startsWith('exporters/')) return 'exporters';
  return 'other';
}

const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

function violations(): string[] {
  const bad: string[] = [];
  const files = ['src', 'frontend', 'solver', 'exporters'].flatMap((d) => sourceFiles(join(repo, d)));
  expect(files.length).toBeGreaterThan(10);
  for (const file of files) {
    const from = areaOf(file);
    const rel = relative(repo, file).split(sep).join('/');
    for (const spec of specifiers(readFileSync(file, 'utf8'))) {
      if (spec === 'dockerfile-ast' && from !== 'frontend') bad.push(`${rel}: only frontend/ may import dockerfile-ast`);
      if (!spec.startsWith('.')) continue; // npm package or node builtin
      const to = areaOf(resolve(dirname(file), spec));
      if (from === 'src-core' && to !== 'src-core') bad.push(`${rel}: core src/ imports ${spec} (${to})`);
      if ((from === 'frontend' || from === 'solver' || from === 'exporters') && to !== 'src-core' && to !== from) {
        bad.push(`${rel}: ${from}/ imports ${spec} (${to})`);
      }
      if (from === 'src-cli' && (to === 'frontend' || to === 'solver' || to === 'exporters') && rel !== 'src/cli/build.ts') {
        bad.push(`${rel}: only src/cli/build.ts may import ${to}/`);
      }
    }
  }
  return bad;
}

describe('import rules (design.md)', () => {
  it('finds import specifiers of every form', () => {
    const text = `import a from './a.js';\nimport { b } from "../b.js";\nexport * from './c.js';\nimport './d.js';\nconst e = await import('./e.js');\nimport type { F } from './f.js';`;
    expect(specifiers(text)).toEqual(['./a.js', '../b.js', './c.js', './d.js', './e.js', './f.js']);
    expect(builtins.has('node:fs')).toBe(true);
  });

  it('holds for every source file', () => {
    expect(violations()).toEqual([]);
  });
});
