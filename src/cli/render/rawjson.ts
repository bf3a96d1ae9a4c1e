/**
 * `--progress rawjson`: one JSON object per line for each progress event, for CI tools and `tsbuild bench`.
 * Each line is the `ProgressEvent` (src/progress/types.ts) as it is, with `v: 1` (the line format's
 * version) first: `{"v":1,"type":"vertex.started","id":"sha256:…","name":"[2/3] RUN make","at":1700000000000}`.
 * Times are milliseconds since the epoch. The format is documented in ARCHITECTURE.md ("Progress as JSON").
 */
import type { ProgressEvent, ProgressSink } from '../../progress/types.js';

export const RAWJSON_VERSION = 1;

export class RawJsonRenderer implements ProgressSink {
  constructor(private readonly write: (s: string) => void) {}

  emit(ev: ProgressEvent): void {
    this.write(JSON.stringify({ v: RAWJSON_VERSION, ...ev }) + '\n');
  }
}
