import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { LocalContentStore } from '../../../src/content/store.js';
import { contentStoreConformance } from './conformance.js';
import { transpileForChild } from './transpile.js';

let jsDir: string;
let childScript: string;

beforeAll(async () => {
  jsDir = await mkdtemp(join(tmpdir(), 'tsb-content-js-'));
  const storeJs = await transpileForChild('src/content/store.ts', jsDir);
  childScript = join(jsDir, 'partial-writer.mjs');
  await writeFile(
    childScript,
    `import { LocalContentStore } from ${JSON.stringify(storeJs)};
const [root, bytes] = process.argv.slice(2);
const store = new LocalContentStore(root);
const w = await store.writer();
await w.write(Buffer.alloc(Number(bytes), 0x61));
process.stdout.write('ready\\n');
setInterval(() => {}, 1000);
`,
  );
});

afterAll(async () => {
  await rm(jsDir, { recursive: true, force: true });
});

contentStoreConformance({
  name: 'LocalContentStore',
  create: (root) => new LocalContentStore(root),
  spawnPartialWriter: (root, bytes) =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [childScript, root, String(bytes)], { stdio: ['ignore', 'pipe', 'inherit'] });
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`partial writer exited early with ${code}`)));
      child.stdout!.on('data', (d: Buffer) => {
        if (d.toString().includes('ready')) resolve(child);
      });
    }),
});
