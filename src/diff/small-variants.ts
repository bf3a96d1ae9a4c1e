/**
 * The gzip variants of a build's small layers, made beside the build. A layer the solver commits
 * uncompressed (ARCHITECTURE.md "Where layers are compressed") whose tar is at most SMALL_GZIP_BYTES is
 * still in memory after its commit (createLayer's onSmallTar): its default gzip is made from those bytes,
 * committed and memoized (variants.ts gzipVariantOfSmall), so the first export or push finds it ready
 * instead of compressing every layer on its own critical path.
 *
 * Jobs run one at a time on one worker thread at the lowest CPU priority (nice BACKGROUND_NICE, a
 * per-thread setting on Linux): they take the CPU the build leaves idle (a RUN step mostly waits for its
 * container) and do not slow its steps. When the solve ends (finish()), jobs not started are dropped and a
 * job still compressing is abandoned (it writes nothing); only a job already writing its blob and memo is
 * awaited. The build never waits for a compression (an export or push makes those variants itself, the
 * same bytes; measured before: waiting for the last layer's job cost a one-file-changed rebuild 180-355 ms
 * under load, mostly the worker's start). A failed job is dropped likewise, and so is
 * a layer that would make the tars held for pending jobs pass MAX_QUEUED_BYTES (memory stays bounded when
 * the worker gets no CPU).
 */
import { Worker } from 'node:worker_threads';
import type { ContentStore } from '../content/types.js';
import type { Layer } from '../image/types.js';
import { defaultGzipLevel, gzipSmall } from './compress.js';
import { gzipVariantOfSmall } from './variants.js';

/** The worker's nice value while it works beside a build (19 is the lowest priority). */
export const BACKGROUND_NICE = 19;

/**
 * Layers below this are left to the export: their gzip there is a fraction of a millisecond of zlib and one
 * blob commit, while a job here would start the worker (~30-50 ms of CPU) and commit with fsyncs that the
 * end of a rebuild whose only new layer is a small COPY waits for (measured: +0.2-0.4 s at load ~6).
 */
export const MIN_BACKGROUND_BYTES = 64 << 10;

/** Tar bytes held for jobs not yet done; a layer that would pass it is left to the export (memory bound). */
export const MAX_QUEUED_BYTES = 32 << 20;

export class SmallVariants {
  private chain: Promise<void> = Promise.resolve();
  private closed = false;
  private queuedBytes = 0;
  /** The job writing its blob and memo, if any (finish() waits for it; a job still compressing is abandoned). */
  private committing: Promise<unknown> | undefined;
  /** Variants made (for tests and diagnostics). */
  made = 0;

  constructor(
    private readonly content: ContentStore,
    private readonly signal?: AbortSignal,
    /** The compressor (default: the niced background worker); tests substitute their own. */
    private readonly gzip: (data: Buffer) => Promise<Buffer> = (data) => backgroundGzip(data, BACKGROUND_NICE),
  ) {}

  /** Queue the gzip variant of the committed uncompressed `layer`, whose whole tar is `tar`. */
  add(layer: Layer, tar: Buffer): void {
    if (this.closed || tar.byteLength < MIN_BACKGROUND_BYTES || this.queuedBytes + tar.byteLength > MAX_QUEUED_BYTES) return;
    this.queuedBytes += tar.byteLength;
    this.chain = this.chain.then(async () => {
      if (this.closed || this.signal?.aborted) return void (this.queuedBytes -= tar.byteLength);
      const job: Promise<Layer | undefined> = gzipVariantOfSmall(this.content, layer, tar, this.gzip, () => {
        if (this.closed || this.signal?.aborted) return false;
        this.committing = job;
        return true;
      });
      try {
        if (await job) this.made++;
      } catch {
        // best effort: the export makes it
      }
      this.queuedBytes -= tar.byteLength;
    });
  }

  /** Wait until every queued job has run (tests; the solve calls finish()). */
  settled(): Promise<void> {
    return this.chain;
  }

  /**
   * The solve is over: jobs not started are dropped, a job still compressing is abandoned (it writes
   * nothing, and the worker no longer keeps the process alive), a job writing its blob and memo is awaited.
   */
  async finish(): Promise<void> {
    this.closed = true;
    releaseWorker();
    await this.committing?.catch(() => {});
  }
}

/** The worker's code. Each job carries the nice value it runs at. */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { gzipSync } = require('node:zlib');
const { setPriority } = require('node:os');
let tid = 0;
try { tid = Number(require('node:fs').readFileSync('/proc/thread-self/stat', 'utf8').split(' ')[0]) || 0; } catch {}
parentPort.postMessage({ t: 'tid', tid });
parentPort.on('message', (m) => {
  try { setPriority(0, m.nice); } catch {}
  try {
    const out = gzipSync(m.data, { level: m.level, chunkSize: 256 << 10 });
    parentPort.postMessage({ t: 'done', id: m.id, data: out });
  } catch (err) {
    parentPort.postMessage({ t: 'error', id: m.id, message: String((err && err.message) || err) });
  }
});
`;

interface Pending {
  resolve: (b: Buffer) => void;
  reject: (e: Error) => void;
}

let worker: Worker | undefined;
let workerTid = 0;
const pending = new Map<number, Pending>();
let nextId = 0;

/**
 * gzip of a small input at its default level (compress.ts defaultGzipLevel, decided here) on the background
 * worker running at `nice`: zlib with the options of compress.ts gzipSmall, so the same bytes.
 */
export function backgroundGzip(data: Uint8Array, nice: number): Promise<Buffer> {
  const level = defaultGzipLevel(data);
  if (level === 0) return gzipSmall(data, 0); // stored blocks: a copy and a CRC, not worth a message
  const w = (worker ??= startWorker());
  const id = nextId++;
  return new Promise<Buffer>((resolve, reject) => {
    pending.set(id, { resolve, reject });
    w.ref();
    w.postMessage({ id, data, level, nice });
  });
}

function startWorker(): Worker {
  const w = new Worker(WORKER_SOURCE, { eval: true });
  const fail = (err: Error) => {
    if (worker === w) worker = undefined;
    workerTid = 0;
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  };
  w.on('message', (m: { t: 'tid'; tid: number } | { t: 'done'; id: number; data: Uint8Array } | { t: 'error'; id: number; message: string }) => {
    if (m.t === 'tid') {
      workerTid = m.tid;
      return;
    }
    const p = pending.get(m.id);
    pending.delete(m.id);
    if (pending.size === 0) w.unref(); // an idle worker does not keep the process alive
    if (!p) return;
    if (m.t === 'done') p.resolve(Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength));
    else p.reject(new Error(`gzip on the background worker failed: ${m.message}`));
  });
  w.on('error', fail);
  w.on('exit', (code) => fail(new Error(`the background gzip worker exited (code ${code})`)));
  w.unref();
  return w;
}

/** The worker thread's id (0: none yet), for tests and diagnostics (/proc/self/task/<tid>). */
export function backgroundWorkerTid(): number {
  return workerTid;
}

/** The solve no longer waits for the worker's job under way: it must not keep the process alive. */
function releaseWorker(): void {
  worker?.unref();
}
