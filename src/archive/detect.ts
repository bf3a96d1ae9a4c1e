/**
 * Is a file a tar archive ADD must unpack? Decided by content, as Docker does: the compression by its
 * magic bytes (gzip, bzip2, xz, or none), then the first 512-byte block of the decompressed stream must
 * be a tar header (its checksum field matches). A compressed file that is not a tar is not an archive.
 */
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';

export type Compression = 'none' | 'gzip' | 'bzip2' | 'xz';

export function compressionOf(head: Uint8Array): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 3 && head[0] === 0x42 && head[1] === 0x5a && head[2] === 0x68) return 'bzip2';
  if (head.length >= 6 && head[0] === 0xfd && head[1] === 0x37 && head[2] === 0x7a && head[3] === 0x58 && head[4] === 0x5a && head[5] === 0x00) return 'xz';
  return 'none';
}

/** A valid tar header block: its checksum (bytes 148..155, octal) equals the sum with that field as spaces. */
export function isTarHeader(block: Uint8Array): boolean {
  if (block.length < 512) return false;
  const field = Buffer.from(block.subarray(148, 156)).toString('latin1').replace(/[\0 ]+$/, '').trim();
  if (!/^[0-7]+$/.test(field)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  return sum === parseInt(field, 8);
}

/** The decompressed contents of `file` as a stream (bzip2 and xz through Debian's bzip2/xz tools). */
export function decompressedStream(file: string, compression: Compression): Readable {
  const raw = createReadStream(file);
  if (compression === 'none') return raw;
  if (compression === 'gzip') {
    const gz = createGunzip();
    raw.on('error', (e) => gz.destroy(e));
    return raw.pipe(gz);
  }
  const tool = compression === 'bzip2' ? 'bzip2' : 'xz';
  const child = spawn(tool, ['-dc'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  raw.on('error', (e) => child.stdout.destroy(e));
  child.on('error', (e) => child.stdout.destroy(new Error(`cannot run ${tool}: ${e.message}`)));
  child.on('close', (code) => {
    if (code !== 0 && code !== null) child.stdout.destroy(new Error(`${tool} -dc failed (exit ${code}): ${stderr.trim()}`));
  });
  child.stdin.on('error', () => {}); // the reader may stop early (EPIPE)
  raw.pipe(child.stdin);
  const out = child.stdout;
  out.on('close', () => {
    if (child.exitCode === null) child.kill();
  });
  return out;
}

/** The archive's compression when `file` is a (possibly compressed) tar, else null. */
export async function detectArchive(file: string): Promise<Compression | null> {
  const fh = await open(file, 'r');
  let head: Buffer;
  try {
    head = Buffer.alloc(8);
    const { bytesRead } = await fh.read(head, 0, 8, 0);
    head = head.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
  const compression = compressionOf(head);
  const block = await firstBytes(decompressedStream(file, compression), 512).catch(() => Buffer.alloc(0));
  return isTarHeader(block) ? compression : null;
}

async function firstBytes(stream: Readable, n: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let len = 0;
  try {
    for await (const c of stream) {
      chunks.push(c as Buffer);
      len += (c as Buffer).length;
      if (len >= n) break;
    }
  } finally {
    stream.destroy();
  }
  return Buffer.concat(chunks).subarray(0, n);
}
