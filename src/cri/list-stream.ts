import type { MessageSink } from './rpc.js';

/**
 * A message's share of grpc-js's 16 MiB limit that one chunk may take. The
 * Stream* twins of the List RPCs exist because a node's full list can pass
 * that limit (pod annotations alone may reach 256 KiB each), so a chunk is
 * cut by size, not by count.
 */
const CHUNK_BUDGET_BYTES = 1024 * 1024;

/**
 * The size of an item's JSON, an upper bound for its protobuf encoding in
 * practice: protobuf drops field names and quotes, and encodes numbers and
 * booleans no longer than their text.
 */
function estimatedSize(item: unknown): number {
  return JSON.stringify(item)?.length ?? 0;
}

/**
 * Sends a List RPC's items as its Stream twin's messages: each item exactly
 * once, in order, in lists of at least one item (none at all for an empty
 * list), then the stream ends. A client slower than the node waits for it:
 * the rest of the list is not queued ahead of what it has not read.
 */
export async function sendInChunks<Item, Message>(
  items: readonly Item[],
  sink: MessageSink<Message>,
  wrap: (chunk: Item[]) => Message,
): Promise<void> {
  let chunk: Item[] = [];
  let chunkBytes = 0;
  const flush = async () => {
    if (chunk.length === 0) return;
    const full = !sink.send(wrap(chunk));
    chunk = [];
    chunkBytes = 0;
    if (full) await sink.drained();
  };
  for (const item of items) {
    const size = estimatedSize(item);
    if (chunk.length > 0 && chunkBytes + size > CHUNK_BUDGET_BYTES) await flush();
    chunk.push(item);
    chunkBytes += size;
  }
  await flush();
}
