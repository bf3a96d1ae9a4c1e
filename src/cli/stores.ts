/** The content and image stores of `--root DIR` / TSBUILD_ROOT, for commands that only read or name images. */
import { LocalContentStore } from '../content/store.js';
import { LocalImageStore } from '../imagestore/store.js';
import { storeLayout, storeRoot } from './store-root.js';

export function openStores(root?: string) {
  const store = storeLayout(storeRoot(root));
  return { store, images: new LocalImageStore(store.images), content: new LocalContentStore(store.content) };
}
