import type { Descriptor } from '../image/types.js';

/**
 * ImageStore: the local table of image names (normalized references, e.g.
 * docker.io/library/app:v1) to manifest descriptors whose blobs live in the ContentStore.
 * Each tag is its own small file written atomically, so concurrent builds that tag different
 * names never conflict and a crash never leaves a half-written tag.
 * Layout under `root`: images/<sha256 of name>.json → ImageRecord.
 */
export interface ImageRecord {
  name: string;
  target: Descriptor;
  created: string;
}

export interface ImageStore {
  get(name: string): Promise<ImageRecord | undefined>;
  put(name: string, target: Descriptor): Promise<ImageRecord>;
  delete(name: string): Promise<boolean>;
  list(): Promise<ImageRecord[]>;
}
