/**
 * sha256 (or sha512) of a stream, inline or on a worker thread. A large download hashes on the worker so that the
 * main thread is free to read the network and write the file (on 2 cores that overlaps the two); small
 * blobs hash inline (no thread hop). The worker is shared, started on first use and never keeps the
 * process alive.
 */
import { createHash } from 'node:crypto';
import type { Worker } from 'node:worker_threads';

export interface StreamHasher {
  /** Add bytes. With `transfer`, the buffer's memory is handed over (the caller must not use it again). */
  update(buf: Uint8Array, transfer?: boolean): void;
  /** The hex digest of everything added. */
  digest(): Promise<string>;
  /** Forget the state without a digest (an aborted write). */
  dispose(): void;
}

export function inlineHasher(algorithm: 'sha256' | 'sha512' = 'sha256'): StreamHasher {
  const h = createHash(algorithm);
  return {
    update: (buf) => void h.update(buf),
    digest: async () => h.digest('hex'),
    dispose: () => {},
  };
}

const WORKER_CODE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const hashes = new Map();
parentPort.on('message', (m) => {
  if (m.t === 'u') {
    let h = hashes.get(m.id);
    if (!h) hashes.set(m.id, (h = createHash(m.a)));
    h.update(new Uint8Array(m.b, m.o, m.n));
  } else if (m.t === 'd') {
    const h = hashes.get(m.id) || createHash(m.a);
    hashes.delete(m.id);
    parentPort.postMessage({ id: m.id, hex: h.digest('hex') });
  } else if (m.t === 'x') {
    hashes.delete(m.id);
  }
});
`;

let worker: Worker | undefined;
let nextId = 1;
const waiting = new Map<number, (hex: string) => void>();
let pending = 0;

function shared(): Worker {
  if (!worker) {
    // Loaded on first use: worker_threads costs a few ms at startup, and most processes never hash a large blob.
    const { Worker: WorkerThread } = process.getBuiltinModule('node:worker_threads');
    worker = new WorkerThread(WORKER_CODE, { eval: true });
    worker.on('message', (m: { id: number; hex: string }) => {
      const done = waiting.get(m.id);
      waiting.delete(m.id);
      if (--pending === 0) worker?.unref();
      done?.(m.hex);
    });
    worker.on('error', (err) => {
      for (const done of waiting.values()) done(`error:${String(err)}`);
      waiting.clear();
      worker = undefined;
    });
    worker.unref();
  }
  return worker;
}

export function workerHasher(algorithm: 'sha256' | 'sha512' = 'sha256'): StreamHasher {
  const w = shared();
  const id = nextId++;
  return {
    update(buf, transfer) {
      if (transfer && buf.byteOffset === 0 && buf.buffer instanceof ArrayBuffer) {
        w.postMessage({ t: 'u', id, a: algorithm, b: buf.buffer, o: 0, n: buf.byteLength }, [buf.buffer]);
      } else {
        const copy = new Uint8Array(buf); // postMessage would copy anyway; keep the offset simple
        w.postMessage({ t: 'u', id, a: algorithm, b: copy.buffer, o: 0, n: copy.byteLength }, [copy.buffer]);
      }
    },
    digest() {
      return new Promise<string>((resolve, reject) => {
        pending++;
        w.ref(); // a digest is awaited: keep the process alive until it arrives
        waiting.set(id, (hex) => (hex.startsWith('error:') ? reject(new Error(`hash worker failed: ${hex.slice(6)}`)) : resolve(hex)));
        w.postMessage({ t: 'd', id, a: algorithm });
      });
    },
    dispose: () => w.postMessage({ t: 'x', id }),
  };
}
