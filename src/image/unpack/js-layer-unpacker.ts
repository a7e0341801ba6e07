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
 */
export async function unpackLayerJs(request: LayerUnpackRequest, signal?: AbortSignal): Promise<LayerUnpackResult> {
  throwIfAborted(signal);
  const writer = new LayerWriter(request.destination, signal);
  let entries = 0;
  const digests = await readLayer(
    request,
    async (tar) => {
      const reader = new TarReader(tar);
      for (let header = await reader.next(); header !== null; header = await reader.next()) {
        throwIfAborted(signal);
        await writer.apply(header, reader.body());
        entries += 1;
      }
      await reader.drain();
    },
    signal,
  );
  await writer.finish();
  return { ...digests, entries };
}

/** Rejects as Node's own streams and child processes do on abort, so callers see one kind of error. */
function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted !== true) return;
  throw Object.assign(new Error('The operation was aborted', { cause: signal.reason }), { name: 'AbortError', code: 'ABORT_ERR' });
}
