/**
 * Loading the CLI bundle with V8's code cache. Node 20 has no compile cache for modules, and a build that
 * the rebuild memo cannot answer compiles ~1.7 MB of JavaScript at start and then each function it calls
 * (~60-80 ms of a 0.6 s build, measured: scripts/bundle.mjs's notes). bin/tsbuild loads the one CommonJS
 * bundle (`dist/bundle/main.cjs`) through `loadScript`: compiled with the bytecode a previous build left in
 * `<file>.v8cache`, and, when there was none or V8 refused it, the cache is written when a build succeeds
 * (`save`, at exit: it then holds every function that build compiled).
 *
 * The cache file: `TSBV8C1\n`, the CRC-32 of the source it was made from, the CRC-32 and length of the
 * payload, then V8's data. V8 itself checks only its version, its flags and the source's *length*: the
 * source checksum keeps a cache from being used with other code of the same length, and the payload
 * checksum keeps damaged bytes from reaching V8's deserializer. Any mismatch, an unreadable file or
 * `TSBUILD_CODE_CACHE=0` means compiling as without a cache (the seam: never a failure). Written to a
 * temporary name and renamed: a crash leaves the old file or the new one. A directory it cannot write to
 * (an install owned by another user) only means no cache.
 */
import { isAscii } from 'node:buffer';
import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { createRequire } from 'node:module';
import { Script } from 'node:vm';
import { crc32 } from 'node:zlib';

const MAGIC = Buffer.from('TSBV8C1\n');
const HEADER = MAGIC.length + 12;

/** CommonJS's module wrapper, as Node's loader puts it around a file. */
const wrap = (source: string): string => `(function (exports, require, module, __filename, __dirname) { ${source}\n});`;

/** What happened to the cache: used; none there; V8 refused it (other Node version or flags); ours did not match (other code, damage). */
export type CacheState = 'used' | 'missing' | 'rejected' | 'mismatch' | 'off';

export interface LoadedScript {
  exports: Record<string, unknown>;
  state: CacheState;
  /** Write the cache when it was missing, refused or mismatched; true when written. Never throws. */
  save(): boolean;
}

/** The cache bytes for `source`, or why there are none. */
function readCache(cacheFile: string, sourceCrc: number): Buffer | 'missing' | 'mismatch' {
  let file: Buffer;
  try {
    file = readFileSync(cacheFile);
  } catch {
    return 'missing';
  }
  if (file.length < HEADER || !file.subarray(0, MAGIC.length).equals(MAGIC)) return 'mismatch';
  const payload = file.subarray(HEADER);
  if (file.readUInt32LE(MAGIC.length) !== sourceCrc) return 'mismatch';
  if (file.readUInt32LE(MAGIC.length + 8) !== payload.length || file.readUInt32LE(MAGIC.length + 4) !== crc32(payload)) return 'mismatch';
  return payload;
}

/** Load the CommonJS file `file` as `require` would, compiled with the code cache in `cacheFile` when it fits. */
export function loadScript(file: string, cacheFile: string, env: NodeJS.ProcessEnv = process.env): LoadedScript {
  const bytes = readFileSync(file);
  const off = env.TSBUILD_CODE_CACHE === '0';
  const sourceCrc = crc32(bytes);
  const cached = off ? 'missing' : readCache(cacheFile, sourceCrc);
  // The file must not `import()` anything (Node 20's vm has no stable loader for it): scripts/bundle.mjs
  // turns the bundle's `import()`s of Node built-ins into requires.
  // An ASCII file (scripts/bundle.mjs makes the bundle so) decodes as Latin-1: 1.7 MB of UTF-8 took 11-25 ms.
  const script = new Script(wrap(bytes.toString(isAscii(bytes) ? 'latin1' : 'utf8')), { filename: file, ...(typeof cached === 'object' ? { cachedData: cached } : {}) });
  const state: CacheState = off ? 'off' : typeof cached === 'object' ? (script.cachedDataRejected ? 'rejected' : 'used') : cached;
  const mod = { exports: {} as Record<string, unknown> };
  (script.runInThisContext() as (...a: unknown[]) => void).call(mod.exports, mod.exports, createRequire(file), mod, file, dirname(file));
  let saved = state === 'used' || state === 'off';
  return {
    exports: mod.exports,
    state,
    save(): boolean {
      if (saved) return false;
      saved = true;
      const tmp = `${cacheFile}.${process.pid}.tmp`;
      try {
        const data = script.createCachedData();
        const head = Buffer.alloc(HEADER);
        MAGIC.copy(head);
        head.writeUInt32LE(sourceCrc, MAGIC.length);
        head.writeUInt32LE(crc32(data), MAGIC.length + 4);
        head.writeUInt32LE(data.length, MAGIC.length + 8);
        writeFileSync(tmp, Buffer.concat([head, data]), { mode: 0o644 });
        renameSync(tmp, cacheFile);
        return true;
      } catch {
        try {
          unlinkSync(tmp);
        } catch {
          // never written
        }
        return false;
      }
    },
  };
}
