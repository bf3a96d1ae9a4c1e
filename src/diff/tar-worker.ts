/**
 * Worker-thread entry (started by tar-producer.ts): makes the tar of a tree with tar-tree.ts's blocking
 * reads and posts its 1 MiB chunks to the main thread, which keeps its event loop free to feed the
 * compressor and the content store. Flow control through a shared Int32Array: [chunks in flight, abort].
 * The worker waits (Atomics.wait) while MAX_INFLIGHT chunks are unconsumed, and stops at the next chunk
 * once abort is set. A job with a file descriptor (`job.file`) writes and hashes the tar itself
 * (tar-file.ts) and reports its size and digest; abort is checked after every chunk there too.
 */
import { parentPort } from 'node:worker_threads';
import { TsbuildError } from '../errors.js';
import { tarChunks } from './tar-tree.js';
import { writeTarFile } from './tar-file.js';
import { ABORT, INFLIGHT, MAX_INFLIGHT, type TarJob, type TarJobMessage } from './tar-job.js';

const port = parentPort;
if (!port) throw new Error('tar-worker.js runs only as a worker thread');

function post(m: TarJobMessage, transfer?: ArrayBuffer[]): void {
  port!.postMessage(m, transfer);
}

function run(job: TarJob): void {
  const ctl = new Int32Array(job.ctl);
  try {
    if (job.file) {
      const r = writeTarFile(job.dir, new Set(job.opaque), job.file.fd, job.file.keepUpTo, () => Atomics.load(ctl, ABORT) !== 0);
      const small = r.small ? new Uint8Array(r.small).buffer : undefined;
      return post({ t: 'done', file: { size: r.size, hex: r.hex, ...(small ? { small } : {}) } }, small ? [small] : undefined);
    }
    for (const chunk of tarChunks(job.dir, new Set(job.opaque))) {
      if (Atomics.load(ctl, ABORT)) return post({ t: 'aborted' });
      Atomics.add(ctl, INFLIGHT, 1);
      if (chunk.byteOffset === 0 && chunk.buffer instanceof ArrayBuffer) post({ t: 'chunk', b: chunk.buffer, n: chunk.byteLength }, [chunk.buffer]);
      else {
        const copy = new Uint8Array(chunk);
        post({ t: 'chunk', b: copy.buffer, n: copy.byteLength }, [copy.buffer]);
      }
      for (let n = Atomics.load(ctl, INFLIGHT); n >= MAX_INFLIGHT && !Atomics.load(ctl, ABORT); n = Atomics.load(ctl, INFLIGHT)) {
        Atomics.wait(ctl, INFLIGHT, n);
      }
    }
    post({ t: 'done' });
  } catch (err) {
    if (job.file && Atomics.load(ctl, ABORT)) return post({ t: 'aborted' });
    const e = err as NodeJS.ErrnoException;
    post({
      t: 'error',
      message: e?.message ?? String(err),
      ...(err instanceof TsbuildError ? { tsbuildCode: err.code } : {}),
      ...(typeof e?.code === 'string' && !(err instanceof TsbuildError) ? { code: e.code } : {}),
      ...(typeof e?.path === 'string' ? { path: e.path } : {}),
      ...(typeof e?.syscall === 'string' ? { syscall: e.syscall } : {}),
    });
  }
}

port.on('message', (job: TarJob) => run(job));
