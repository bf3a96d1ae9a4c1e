/**
 * Runs tar-tree.ts for a tree and hands its chunks, in order, to an async consumer. The tar is made on a
 * worker thread (tar-worker.ts, a small pool reused across layers) so that the blocking file reads never
 * hold up the main thread's event loop, which moves the bytes to the compressor (a pigz pipe or zlib's
 * thread pool) and the content store: on 2 cores the reads, the compression and the writes overlap.
 * Where the compiled worker script is absent (the TypeScript sources run by the test runner), the tar is
 * made on the main thread, yielding to the event loop after every chunk. Both give the same bytes.
 * A small tree (at most SMALL_ENTRIES entries and SMALL_BYTES of file data: a COPY of a few files, a RUN that
 * wrote a config file) is also made on the main thread when no worker is idle: starting a worker (a V8
 * isolate and Node's bootstrap, 50–120 ms of CPU on this project's machines) costs more than its reads, and
 * the layer of a build's last step is on the critical path.
 */
import { existsSync, lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { StoreError } from '../errors.js';
import { ABORT, INFLIGHT, type TarJob, type TarJobMessage } from './tar-job.js';
import { tarChunks } from './tar-tree.js';
import { writeTarFile, type TarFileResult } from './tar-file.js';

/** Idle workers kept for the next layer (they do not keep the process alive). */
const MAX_IDLE = 4;
const idle: Worker[] = [];
let script: URL | null | undefined;
let started = 0;
/** A tree this small is made on the main thread unless a worker is idle. */
export const SMALL_ENTRIES = 256;
export const SMALL_BYTES = 4 * 1024 * 1024;

/** How many tar workers this process started (tests: a small layer starts none). */
export function tarWorkersStarted(): number {
  return started;
}

/** The worker script beside this module (tsc output or the esbuild bundle), or null when there is none. */
function workerScript(): URL | null {
  if (script === undefined) {
    const url = new URL('./tar-worker.js', import.meta.url);
    script = process.env.TSBUILD_TAR_WORKER !== '0' && url.protocol === 'file:' && existsSync(fileURLToPath(url)) ? url : null;
  }
  return script;
}

/** Whether tar production runs on a worker thread here. */
export function tarOnWorker(): boolean {
  return workerScript() !== null;
}

/**
 * Produce the tar of `dir` (tar-tree.ts's format; `opaque` as tarChunks takes it) into `onChunk`, which
 * may apply back-pressure by returning a promise. Rejects with the first error of either side.
 */
export async function produceTar(dir: string, opaque: ReadonlySet<string>, onChunk: (chunk: Buffer) => Promise<void>, signal?: AbortSignal): Promise<void> {
  signal?.throwIfAborted();
  const worker = workerFor(dir);
  if (!worker) return inThread(dir, opaque, onChunk, signal);
  return onWorker(worker, { dir, opaque: [...opaque], ctl: new SharedArrayBuffer(8) }, onChunk, signal);
}

/**
 * Write the tar of `dir` into `fd` (an ingest file of the content store, at its current offset) and hash
 * it (tar-file.ts), on a worker thread chosen as produceTar chooses, else on this thread. Resolves or
 * rejects only once nothing writes to `fd` any more (the caller then closes it).
 */
export async function produceTarFile(dir: string, opaque: ReadonlySet<string>, fd: number, keepUpTo: number, signal?: AbortSignal): Promise<TarFileResult> {
  signal?.throwIfAborted();
  const worker = workerFor(dir);
  if (!worker) return writeTarFile(dir, opaque, fd, keepUpTo, () => signal?.aborted ?? false);
  return fileOnWorker(worker, { dir, opaque: [...opaque], ctl: new SharedArrayBuffer(8), file: { fd, keepUpTo } }, signal);
}

/** An idle worker, else a new one unless the tree is small (undefined: make the tar on this thread). */
function workerFor(dir: string): Worker | undefined {
  const url = workerScript();
  if (!url) return undefined;
  let worker = takeIdle();
  if (!worker) {
    if (isSmallTree(dir)) return undefined;
    worker = new Worker(url);
    started++;
  }
  worker.ref();
  return worker;
}

/**
 * Start a tar worker ahead of need (a RUN step that will make a layer is running): its start (50–120 ms
 * of CPU, a V8 isolate and Node's bootstrap) then overlaps the step instead of delaying its layer. Does
 * nothing when a worker is idle or there is no compiled worker script; the worker never keeps the process
 * alive.
 */
export function warmTarWorker(): void {
  const url = workerScript();
  if (!url || idle.length > 0) return;
  const w = new Worker(url);
  started++;
  w.unref();
  putIdle(w);
}

/**
 * Stop the idle workers (the build's layers are made): a worker's exit (its isolate's teardown, ~50 ms
 * under load) then overlaps the build's last writes instead of delaying the process's exit, which waits
 * for every worker thread. A later layer starts a new worker.
 */
export async function releaseTarWorkers(): Promise<void> {
  const all = idle.splice(0);
  for (const w of all) {
    w.off('exit', idleExit.get(w)!);
    idleExit.delete(w);
  }
  await Promise.all(all.map((w) => w.terminate().catch(() => 0)));
}

/** An idle worker drops out of the pool if it ever exits (it is then never handed a job). */
const idleExit = new Map<Worker, () => void>();

function takeIdle(): Worker | undefined {
  const w = idle.pop();
  if (w) {
    w.off('exit', idleExit.get(w)!);
    idleExit.delete(w);
  }
  return w;
}

function putIdle(w: Worker): void {
  if (idle.length >= MAX_IDLE) {
    void w.terminate();
    return;
  }
  const onExit = () => {
    idleExit.delete(w);
    const i = idle.indexOf(w);
    if (i >= 0) idle.splice(i, 1);
  };
  idleExit.set(w, onExit);
  w.once('exit', onExit);
  idle.push(w);
}

/**
 * Whether `dir` has at most SMALL_ENTRIES entries and SMALL_BYTES of file data (a walk that stops as soon as
 * either is passed). Anything unreadable answers false: the worker then reports it as usual.
 */
export function isSmallTree(dir: string): boolean {
  let entries = 0;
  let bytes = 0;
  const visit = (d: string): boolean => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (++entries > SMALL_ENTRIES) return false;
      if (e.isDirectory()) {
        if (!visit(join(d, e.name))) return false;
      } else if (e.isFile()) {
        bytes += lstatSync(join(d, e.name)).size;
        if (bytes > SMALL_BYTES) return false;
      }
    }
    return true;
  };
  try {
    return visit(dir);
  } catch {
    return false;
  }
}

async function inThread(dir: string, opaque: ReadonlySet<string>, onChunk: (chunk: Buffer) => Promise<void>, signal?: AbortSignal): Promise<void> {
  for (const chunk of tarChunks(dir, opaque)) {
    signal?.throwIfAborted();
    await onChunk(chunk);
    // let pipe writes and compressor callbacks run between chunks
    await new Promise<void>((res) => setImmediate(res));
  }
}

function onWorker(worker: Worker, job: TarJob, onChunk: (chunk: Buffer) => Promise<void>, signal?: AbortSignal): Promise<void> {
  const ctl = new Int32Array(job.ctl);
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    let chain = Promise.resolve();
    const settle = (err?: unknown) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      if (err === undefined) resolve();
      else reject(err);
    };
    /** Tell the worker to stop at its next chunk and fail the job now. */
    const stop = (err: unknown) => {
      Atomics.store(ctl, ABORT, 1);
      Atomics.notify(ctl, INFLIGHT);
      settle(err);
    };
    const onAbort = () => stop(signal?.reason ?? new StoreError('ABORTED', 'layer export aborted'));
    /** The job is over on the worker's side: it may take the next one. */
    const release = () => {
      worker.off('message', onMessage);
      worker.off('error', onDead);
      worker.off('exit', onDead);
      worker.unref();
      putIdle(worker);
    };
    const onDead = (err: unknown) => {
      worker.off('message', onMessage);
      worker.off('error', onDead);
      worker.off('exit', onDead);
      stop(err instanceof Error ? new StoreError('TAR_WORKER_FAILED', `making the tar of ${job.dir} failed: ${err.message}`, { cause: err }) : new StoreError('TAR_WORKER_FAILED', `the tar worker for ${job.dir} exited (code ${String(err)})`));
    };
    const onMessage = (m: TarJobMessage) => {
      switch (m.t) {
        case 'chunk': {
          const chunk = Buffer.from(m.b, 0, m.n);
          chain = chain.then(async () => {
            if (settled) return;
            try {
              await onChunk(chunk);
            } catch (err) {
              return stop(err);
            }
            Atomics.sub(ctl, INFLIGHT, 1);
            Atomics.notify(ctl, INFLIGHT);
          });
          return;
        }
        case 'done':
          release();
          void chain.then(() => settle());
          return;
        case 'aborted':
          release();
          return settle(signal?.reason ?? new StoreError('ABORTED', 'layer export aborted'));
        case 'error':
          release();
          return stop(workerError(m));
      }
    };
    worker.on('message', onMessage);
    worker.once('error', onDead);
    worker.once('exit', onDead);
    if (signal) signal.addEventListener('abort', onAbort, { once: true });
    worker.postMessage(job);
  });
}

/**
 * A file job (produceTarFile): settles only on the worker's last word (done, aborted, error) or its exit,
 * never earlier, since until then it may write to the job's descriptor. An abort sets the shared flag,
 * which the worker reads after every chunk.
 */
function fileOnWorker(worker: Worker, job: TarJob, signal?: AbortSignal): Promise<TarFileResult> {
  const ctl = new Int32Array(job.ctl);
  return new Promise<TarFileResult>((resolve, reject) => {
    const onAbort = () => Atomics.store(ctl, ABORT, 1);
    const detach = () => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
      signal?.removeEventListener('abort', onAbort);
    };
    const release = () => {
      detach();
      worker.unref();
      putIdle(worker);
    };
    const onError = (err: Error) => {
      detach();
      // an 'error' event is followed by the worker's exit: it writes nothing more
      reject(new StoreError('TAR_WORKER_FAILED', `making the tar of ${job.dir} failed: ${err.message}`, { cause: err }));
    };
    const onExit = (code: number) => {
      detach();
      reject(new StoreError('TAR_WORKER_FAILED', `the tar worker for ${job.dir} exited (code ${code})`));
    };
    const onMessage = (m: TarJobMessage) => {
      switch (m.t) {
        case 'done':
          release();
          if (!m.file) return reject(new StoreError('TAR_WORKER_FAILED', `the tar worker for ${job.dir} reported no file`));
          return resolve({ size: m.file.size, hex: m.file.hex, ...(m.file.small ? { small: Buffer.from(m.file.small) } : {}) });
        case 'aborted':
          release();
          return reject(signal?.reason ?? new StoreError('ABORTED', 'layer export aborted'));
        case 'error':
          release();
          return reject(workerError(m));
        case 'chunk':
          return; // never sent for a file job
      }
    };
    worker.on('message', onMessage);
    worker.once('error', onError);
    worker.once('exit', onExit);
    if (signal) signal.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) onAbort();
    worker.postMessage(job);
  });
}

/** The worker's error as the main thread would have thrown it. */
function workerError(m: Extract<TarJobMessage, { t: 'error' }>): Error {
  if (m.tsbuildCode) return new StoreError(m.tsbuildCode, m.message);
  const err = new Error(m.message) as NodeJS.ErrnoException;
  if (m.code) err.code = m.code;
  if (m.path) err.path = m.path;
  if (m.syscall) err.syscall = m.syscall;
  return err;
}
