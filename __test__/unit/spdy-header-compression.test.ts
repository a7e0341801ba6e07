import test, { type ExecutionContext } from 'ava';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { FrameParser, SpdyProtocolError, type SpdyFrame } from '../../src/streaming/spdy/frames.js';
import {
  decodeHeaderBlock,
  encodeHeaderBlock,
  HeaderCompressor,
  HeaderDecompressor,
  SPDY3_DICTIONARY,
} from '../../src/streaming/spdy/header-compression.js';
import { repoRoot } from '../helpers/repo.js';

function fixture(name: string): Buffer {
  return readFileSync(path.join(repoRoot, '__test__', 'fixtures', 'spdy', name));
}

/** A decoding outcome that must be a protocol error whose message matches. */
function isError(t: ExecutionContext, outcome: unknown, message: RegExp, what?: string): void {
  t.true(outcome instanceof SpdyProtocolError, what);
  if (outcome instanceof SpdyProtocolError) {
    t.is(outcome.scope, 'session');
    t.regex(outcome.message, message, what);
  }
}

function parseAll(wire: Buffer): SpdyFrame[] {
  return new FrameParser().push(wire).flatMap((e) => (e.kind === 'frame' ? [e.frame] : []));
}

test('the dictionary is the spec one: 1423 bytes, words with lengths, then the text', (t) => {
  t.is(SPDY3_DICTIONARY.length, 1423);
  t.deepEqual(SPDY3_DICTIONARY.subarray(0, 11), Buffer.from('\0\0\0\x07options', 'latin1'));
  t.is(SPDY3_DICTIONARY.subarray(-20).toString('latin1'), '8859-1,utf-,*,enq=0.');
});

test('a header block round-trips, NUL-joined values included', (t) => {
  const headers = new Map([
    ['streamtype', 'stdout'],
    ['x-multi', 'a\0b'],
    ['empty', ''],
  ]);
  t.deepEqual(decodeHeaderBlock(encodeHeaderBlock(headers)), headers);
});

test('names must be lowercase and unique, on the way out and on the way in', (t) => {
  t.throws(() => encodeHeaderBlock([['StreamType', 'x']]), { instanceOf: TypeError });
  t.throws(() => encodeHeaderBlock([['', 'x']]), { instanceOf: TypeError });
  const upper = Buffer.from([0, 0, 0, 1, 0, 0, 0, 1, 0x41, 0, 0, 0, 0]);
  isError(t, decodeHeaderBlock(upper), /not lowercase/);
  const twice = Buffer.concat([Buffer.from([0, 0, 0, 2]), encodeHeaderBlock([['a', '1']]).subarray(4), encodeHeaderBlock([['a', '2']]).subarray(4)]);
  isError(t, decodeHeaderBlock(twice), /appears twice/);
});

test('truncated and lying blocks are errors, not throws or huge allocations', (t) => {
  const good = encodeHeaderBlock([['name', 'value']]);
  for (let cut = 0; cut < good.length; cut++) isError(t, decodeHeaderBlock(good.subarray(0, cut)), /./, `cut at ${cut}`);
  isError(t, decodeHeaderBlock(Buffer.from([0xff, 0xff, 0xff, 0xff])), /declares/);
  isError(t, decodeHeaderBlock(Buffer.concat([good, Buffer.from([0])])), /after its last pair/);
});

test('the compressor and decompressor keep one zlib stream across blocks', (t) => {
  const out = new HeaderCompressor();
  const into = new HeaderDecompressor();
  for (let i = 0; i < 50; i++) {
    const headers = new Map([
      ['streamtype', i % 2 ? 'data' : 'error'],
      ['port', String(8000 + i)],
      ['requestid', String(i)],
    ]);
    t.deepEqual(into.decompress(out.compress(headers)), headers);
  }
});

test('our compressed blocks are one valid zlib stream for a long-lived inflater, as Go reads them', async (t) => {
  const compressor = new HeaderCompressor();
  const blocks = Array.from({ length: 20 }, (_, i) => [['streamtype', `s${i}`] as const, ['x-long', 'v'.repeat(i * 50)] as const]);
  const inflater = zlib.createInflate({ dictionary: SPDY3_DICTIONARY });
  const chunks: Buffer[] = [];
  inflater.on('data', (c: Buffer) => chunks.push(c));
  for (const block of blocks) inflater.write(compressor.compress(block));
  await new Promise<void>((resolve) => inflater.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve()));
  t.deepEqual(Buffer.concat(chunks), Buffer.concat(blocks.map((b) => encodeHeaderBlock(b))));
});

test('blocks from a long-lived deflater with sync flushes decompress one by one', async (t) => {
  const deflater = zlib.createDeflate({ dictionary: SPDY3_DICTIONARY });
  const decompressor = new HeaderDecompressor();
  for (let i = 0; i < 20; i++) {
    const headers = new Map([
      ['streamtype', 'stdout'],
      ['n', String(i).repeat(i)],
    ]);
    const chunks: Buffer[] = [];
    const onData = (c: Buffer) => chunks.push(c);
    deflater.on('data', onData);
    deflater.write(encodeHeaderBlock(headers));
    await new Promise<void>((resolve) => deflater.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve()));
    deflater.off('data', onData);
    t.deepEqual(decompressor.decompress(Buffer.concat(chunks)), headers);
  }
});

test('a block that inflates past the limit is an error, and the context stays broken', (t) => {
  const decompressor = new HeaderDecompressor({ maxBlockSize: 4096, maxPairs: 10 });
  const bomb = new HeaderCompressor().compress([['x', 'a'.repeat(100_000)]]);
  isError(t, decompressor.decompress(bomb), /does not inflate/);
  isError(t, decompressor.decompress(bomb), /broken/);
});

test('a first block without the SPDY dictionary is refused', (t) => {
  const plain = zlib.deflateSync(encodeHeaderBlock([['a', 'b']]));
  isError(t, new HeaderDecompressor().decompress(plain), /SPDY\/3 dictionary/);
});

for (const [name, types] of [
  ['plain.bin', ['error', 'stdin', 'stdout', 'stderr']],
  ['tty.bin', ['error', 'stdin', 'stdout', 'resize']],
] as const) {
  test(`client-go's exec SYN_STREAMs (${name}) decompress to their stream types`, (t) => {
    const decompressor = new HeaderDecompressor();
    const synStreams = parseAll(fixture(name)).filter((f) => f.type === 'syn-stream');
    t.deepEqual(
      synStreams.map((f) => f.streamId),
      [1, 3, 5, 7],
    );
    const headers = synStreams.map((f) => decompressor.decompress(f.headerBlock));
    t.deepEqual(
      headers.map((h) => (h instanceof Map ? Object.fromEntries(h) : h)),
      types.map((streamtype) => ({ streamtype })),
    );
  });
}
