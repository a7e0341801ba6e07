import { readLayer } from './layer-stream.js';
import type { LayerUnpackRequest, LayerUnpackResult } from './layer-unpacker.js';
import { LayerWriter } from './layer-writer.js';
import { TarReader } from './tar-reader.js';

/**
 * The TypeScript layer unpacker: the fallback when the native addon cannot
 * be used (`image.unpack = "js"`), and the reference the native one is
 * measured and conformance-tested against. It depends on two host tools,
 * `mknod` (coreutils) for device nodes, FIFOs and whiteouts, and `setfattr`
 * (the `attr` package) for xattrs, since Node has neither call.
 *
 * An abort rejects with the signal's reason, as the native unpacker does,
 * whichever stream or child process noticed it first.
 */
export async function unpackLayerJs(request: LayerUnpackRequest, signal?: AbortSignal): Promise<LayerUnpackResult> {
  signal?.throwIfAborted();
  const writer = new LayerWriter(request.destination, signal);
  let entries = 0;
  try {
    const digests = await readLayer(
      request,
      async (tar) => {
        const reader = new TarReader(tar);
        for (let header = await reader.next(); header !== null; header = await reader.next()) {
          signal?.throwIfAborted();
          await writer.apply(header, reader.body());
          entries += 1;
        }
        await reader.drain();
      },
      signal,
    );
    await writer.finish();
    return { ...digests, entries };
  } catch (error) {
    signal?.throwIfAborted();
    throw error;
  }
}
