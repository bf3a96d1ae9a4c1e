/**
 * `fn` over `items` as synchronous file system calls, in slices of `slice` with a turn of the event loop
 * between two (a signal, a timer, I/O get in): for listing a store directory whose every entry costs a file
 * system call (a record's read, a blob's stat). Through fs/promises each read was four round trips through
 * libuv's thread pool (open, fstat, read, close): the cache cap's measurement of a store of ~300 records and
 * blobs took 280-300 ms, ~230 ms of it CPU (test/bench numbers in ARCHITECTURE.md).
 */
export async function* inSlices<T, R>(items: readonly T[], fn: (item: T) => R, slice = 256): AsyncGenerator<R> {
  for (let i = 0; i < items.length; i++) {
    if (i > 0 && i % slice === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    yield fn(items[i]!);
  }
}
