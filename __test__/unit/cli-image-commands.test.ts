import test from 'ava';
import { removeImages, type ImageRemover } from '../../src/cli/image-commands.js';

/** A daemon holding `present`, answering as CRI does: RemoveImage of a missing image succeeds. */
function fakeDaemon(present: string[]): ImageRemover & { removed: string[] } {
  const store = new Set(present);
  const removed: string[] = [];
  return {
    removed,
    status: async (image) => (store.has(image) ? { id: `sha256:${image}` } : null),
    remove: async (image) => {
      store.delete(image);
      removed.push(image);
    },
  };
}

test('rmi removes the images that exist and returns the names that matched none, without calling remove for them', async (t) => {
  const daemon = fakeDaemon(['app:1', 'app:2']);
  const printed: string[] = [];
  const missing = await removeImages(daemon, ['app:1', 'nosuch:1', 'app:2'], (line) => printed.push(line));
  t.deepEqual(missing, ['nosuch:1']);
  t.deepEqual(daemon.removed, ['app:1', 'app:2']);
  t.deepEqual(printed, ['removed app:1', 'removed app:2']);
});
