import test from 'ava';
import { sendInChunks } from '../../src/cri/list-stream.js';
import type { MessageSink } from '../../src/cri/rpc.js';

interface Chunk {
  items: string[];
}

/** A sink that reports itself full after every `fullEvery`th message and counts how often the sender waited. */
function recordingSink(fullEvery = Infinity) {
  const sent: Chunk[] = [];
  let waits = 0;
  const sink: MessageSink<Chunk> = {
    send(message) {
      sent.push(message);
      return sent.length % fullEvery !== 0;
    },
    drained() {
      waits += 1;
      return Promise.resolve();
    },
  };
  return { sink, sent, waits: () => waits };
}

const wrap = (items: string[]): Chunk => ({ items });

test('an empty list sends no message: every message carries at least one item', async (t) => {
  const { sink, sent } = recordingSink();
  await sendInChunks([], sink, wrap);
  t.deepEqual(sent, []);
});

test('a small list goes out as one message, in order', async (t) => {
  const { sink, sent } = recordingSink();
  await sendInChunks(['a', 'b', 'c'], sink, wrap);
  t.deepEqual(sent, [{ items: ['a', 'b', 'c'] }]);
});

test('a list over the chunk budget is split by size, each item exactly once and in order', async (t) => {
  const { sink, sent } = recordingSink();
  // 20 items of 200 KiB: 4 MiB, which no single 1 MiB chunk may carry.
  const items = Array.from({ length: 20 }, (_, i) => `${i}:`.padEnd(200 * 1024, 'x'));
  await sendInChunks(items, sink, wrap);
  t.true(sent.length >= 4, `${sent.length} chunks`);
  t.deepEqual(
    sent.flatMap((chunk) => chunk.items),
    items,
  );
  for (const chunk of sent) t.true(chunk.items.join('').length <= 1024 * 1024 + 16, `a chunk of ${chunk.items.length} items`);
});

test('an item larger than the budget still goes out, alone', async (t) => {
  const { sink, sent } = recordingSink();
  const huge = 'y'.repeat(3 * 1024 * 1024);
  await sendInChunks(['a', huge, 'b'], sink, wrap);
  t.deepEqual(
    sent.map((chunk) => chunk.items.length),
    [1, 1, 1],
  );
});

test('a client that is not reading holds the sender back until it drains', async (t) => {
  const { sink, sent, waits } = recordingSink(1);
  const items = Array.from({ length: 6 }, (_, i) => `${i}`.padEnd(600 * 1024, 'z'));
  await sendInChunks(items, sink, wrap);
  t.is(sent.length, 6);
  t.is(waits(), 6);
});
