import type { ContentStore } from '../src/content/types.js';
import type { Descriptor } from '../src/image/types.js';
import type { ImageStore } from '../src/imagestore/types.js';
import type { BuildResult } from '../src/llb/result.js';
import type { ProgressSink } from '../src/progress/types.js';
import type { Snapshotter } from '../src/snapshot/types.js';
import type { ImageExportOptions } from './options.js';
import type { PlatformImage } from './platforms.js';

/**
 * An Exporter writes a BuildResult somewhere a user can use it. It sees the result (layer chain and
 * image config) and the stores, never solver internals. Every exporter writes atomically: a failed
 * export leaves no partial file, tag or blob behind.
 */
export interface ExportContext {
  content: ContentStore;
  images: ImageStore;
  progress: ProgressSink;
  signal?: AbortSignal;
  /** Reads BuildResult.snapshot (through a read-only view) for type=local and type=tar. */
  snapshotter?: Snapshotter;
  /** Where temp mount points go (`<store>/state/mounts`); names carry the pid so crash recovery can clean them. */
  mountsDir?: string;
  /** Build-wide image settings every exporter applies (SOURCE_DATE_EPOCH, --label). */
  imageOptions?: { sourceDateEpoch?: number; labels?: Record<string, string> };
  /** Brings a layer blob the store lacks into `content` (a lazy --cache-from blob; src/content/fetch.ts `BlobFetcher.ensure`); pushes call it before an upload. */
  ensureBlob?: (d: Descriptor) => Promise<void>;
  /** Where `dest=-` writes; default process.stdout. */
  stdout?: NodeJS.WritableStream;
}

/** The image as written to the content store by writeImage(). */
export interface ImageBlobs {
  manifest: Descriptor;
  config: Descriptor;
}

export interface ExportResponse {
  /** Human summary, e.g. "naming to docker.io/library/app:v1". */
  message: string;
  /** The manifest this output wrote, when it differs from the build's default image (other options). */
  manifest?: Descriptor;
  /** That variant's config (its diff_ids differ when the layers were rewritten, so its image ID differs too). */
  config?: Descriptor;
}

export interface Exporter {
  readonly type: string;
  export(result: BuildResult, image: ImageBlobs, ctx: ExportContext): Promise<ExportResponse>;
  /**
   * A multi-platform build (./platforms.ts): one image per platform, written as one index (or one
   * subdirectory per platform). Absent: this output cannot hold several platforms (type=docker, --load).
   * `opts`: the output's image options, when a wrapper (withImageOptions) carries them.
   */
  exportPlatforms?(images: PlatformImage[], ctx: ExportContext, opts?: ImageExportOptions): Promise<ExportResponse>;
}
