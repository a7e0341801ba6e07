import test from 'ava';
import { FLAG_FIN, FrameParser, GoAwayStatus, RstStatus, serializeFrame, type ParseEvent, type SpdyFrame } from '../../src/streaming/spdy/frames.js';

const everyType: SpdyFrame[] = [
  { type: 'data', streamId: 0x7fffffff, flags: FLAG_FIN, data: Buffer.from('payload') },
  { type: 'data', streamId: 3, flags: 0, data: Buffer.alloc(0) },
  { type: 'syn-stream', streamId: 5, associatedStreamId: 1, priority: 7, slot: 2, flags: 3, headerBlock: Buffer.from([1, 2, 3]) },
  { type: 'syn-reply', streamId: 5, flags: FLAG_FIN, headerBlock: Buffer.from([9, 8]) },
  { type: 'rst-stream', streamId: 9, status: RstStatus.Cancel },
  {
    type: 'settings',
    flags: 1,
    entries: [
      { flags: 1, id: 7, value: 1000 },
      { flags: 0, id: 4, value: 0xffffffff },
    ],
  },
  { type: 'ping', id: 0xfffffffe },
  { type: 'goaway', lastGoodStreamId: 11, status: GoAwayStatus.InternalError },
  { type: 'headers', streamId: 13, flags: 0, headerBlock: Buffer.from('x') },
  { type: 'window-update', streamId: 0, delta: 0x7fffffff },
];

function frames(events: ParseEvent[]): SpdyFrame[] {
  return events.flatMap((e) => (e.kind === 'frame' ? [e.frame] : []));
}

/** A control frame header with any version, type and payload length. */
function rawControl(version: number, type: number, payload: Buffer, declaredLength = payload.length): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt32BE((0x80000000 | (version << 16) | type) >>> 0, 0);
  header.writeUIntBE(declaredLength, 5, 3);
  return Buffer.concat([header, payload]);
}

test('every frame type survives serialize then parse', (t) => {
  for (const frame of everyType) {
    t.deepEqual(frames(new FrameParser().push(serializeFrame(frame))), [frame], frame.type);
  }
});

test('frames split anywhere, one byte at a time, come out whole and in order', (t) => {
  const wire = Buffer.concat(everyType.map(serializeFrame));
  const parser = new FrameParser();
  const out: SpdyFrame[] = [];
  for (let i = 0; i < wire.length; i++) out.push(...frames(parser.push(wire.subarray(i, i + 1))));
  t.deepEqual(out, everyType);
});

test('many frames in one chunk, the last one incomplete until the next chunk', (t) => {
  const wire = Buffer.concat(everyType.map(serializeFrame));
  const parser = new FrameParser();
  const first = frames(parser.push(wire.subarray(0, wire.length - 3)));
  t.deepEqual(first, everyType.slice(0, -1));
  t.deepEqual(frames(parser.push(wire.subarray(wire.length - 3))), everyType.slice(-1));
});

test('a control frame of an unknown type (NOOP, CREDENTIAL) is skipped, per spec', (t) => {
  const ping = serializeFrame({ type: 'ping', id: 1 });
  const events = new FrameParser().push(Buffer.concat([rawControl(3, 5, Buffer.alloc(0)), rawControl(3, 10, Buffer.alloc(12)), ping]));
  t.deepEqual(
    events.map((e) => e.kind),
    ['ignored', 'ignored', 'frame'],
  );
});

test('a version other than 3 is a session error, and the parser then reports nothing more', (t) => {
  const parser = new FrameParser();
  const events = parser.push(Buffer.concat([rawControl(2, 6, Buffer.alloc(4)), serializeFrame({ type: 'ping', id: 1 })]));
  t.is(events.length, 1);
  const [event] = events;
  t.is(event?.kind, 'error');
  if (event?.kind !== 'error') return;
  t.is(event.error.scope, 'session');
  t.is(event.error.status, GoAwayStatus.ProtocolError);
  t.regex(event.error.message, /version 2/);
  t.deepEqual(parser.push(serializeFrame({ type: 'ping', id: 3 })), []);
});

for (const [name, wire] of [
  ['RST_STREAM of 4 bytes', rawControl(3, 3, Buffer.alloc(4))],
  ['PING of 8 bytes', rawControl(3, 6, Buffer.alloc(8))],
  ['WINDOW_UPDATE of 4 bytes', rawControl(3, 9, Buffer.alloc(4))],
  ['SYN_STREAM of 9 bytes', rawControl(3, 1, Buffer.alloc(9))],
  ['SETTINGS whose count overstates its entries', rawControl(3, 4, Buffer.from([0, 0, 0, 2, 0, 0, 0, 7, 0, 0, 0, 1]))],
  ['SETTINGS shorter than its count', rawControl(3, 4, Buffer.from([0, 0]))],
] as const) {
  test(`an impossible length is a typed session error: ${name}`, (t) => {
    const events = new FrameParser().push(wire);
    t.is(events.length, 1);
    t.like(events[0], { kind: 'error', error: { scope: 'session', status: GoAwayStatus.ProtocolError, code: 'ERR_SPDY_PROTOCOL' } });
  });
}

test('an oversized control frame is refused from its header alone, without buffering it', (t) => {
  const parser = new FrameParser({ maxFrameSize: 1024 });
  const header = rawControl(3, 8, Buffer.alloc(0), 0xffffff);
  const events = parser.push(header);
  t.like(events[0], { kind: 'error', error: { scope: 'session' } });
});

test('an oversized DATA frame resets only its stream, and parsing resumes after it across chunks', (t) => {
  const parser = new FrameParser({ maxFrameSize: 100 });
  const big = serializeFrame({ type: 'data', streamId: 7, flags: 0, data: Buffer.alloc(1000, 1) });
  const after = serializeFrame({ type: 'data', streamId: 9, flags: FLAG_FIN, data: Buffer.from('ok') });
  const wire = Buffer.concat([big, after]);
  const events = [...parser.push(wire.subarray(0, 50)), ...parser.push(wire.subarray(50, 700)), ...parser.push(wire.subarray(700))];
  t.is(events.length, 2);
  t.like(events[0], { kind: 'error', error: { scope: 'stream', streamId: 7, status: RstStatus.FrameTooLarge } });
  t.like(events[1], { kind: 'frame', frame: { type: 'data', streamId: 9, flags: FLAG_FIN } });
});

test('serializing a payload over 16 MiB throws instead of writing a wrong length', (t) => {
  t.throws(() => serializeFrame({ type: 'data', streamId: 1, flags: 0, data: Buffer.alloc(0x1000000) }), { instanceOf: RangeError });
});
