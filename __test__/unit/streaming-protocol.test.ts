import test from 'ava';
import { chooseSpdyProtocol, chooseWebSocketProtocol } from '../../src/streaming/negotiation.js';
import { REMOTE_COMMAND_PROTOCOLS, statusBytes, TerminalSizeDecoder, type TerminalSize } from '../../src/streaming/remote-command.js';
import { StreamRequests } from '../../src/streaming/stream-requests.js';

const exec = { kind: 'exec', containerId: 'c1', command: ['true'], tty: false, stdin: false, stdout: true, stderr: true } as const;

test('a token works once, for its own kind only', (t) => {
  const requests = new StreamRequests(60_000);
  const token = requests.add(exec);
  t.regex(token, /^[A-Za-z0-9_-]{22}$/);
  t.deepEqual(requests.take(token, 'exec'), exec);
  t.is(requests.take(token, 'exec'), null);
  const other = requests.add(exec);
  t.is(requests.take(other, 'attach'), null);
  t.is(requests.take(other, 'exec'), null, 'a token tried on the wrong path is spent');
  t.is(requests.take('unknown', 'exec'), null);
});

test('a token expires after its time to live, and expired ones are dropped', (t) => {
  let now = 1000;
  const requests = new StreamRequests(60_000, 1000, () => now);
  const token = requests.add(exec);
  requests.add(exec);
  now += 60_000;
  t.is(requests.take(token, 'exec'), null);
  t.is(requests.size, 0);
});

test('the oldest pending request gives way at the cap', (t) => {
  const requests = new StreamRequests(60_000, 2);
  const first = requests.add(exec);
  const second = requests.add(exec);
  const third = requests.add(exec);
  t.is(requests.take(first, 'exec'), null);
  t.truthy(requests.take(second, 'exec'));
  t.truthy(requests.take(third, 'exec'));
});

test('SPDY negotiation takes the newest protocol the client offers, and none offered means the legacy one', (t) => {
  t.is(chooseSpdyProtocol(['v2.channel.k8s.io', 'v4.channel.k8s.io', 'v5.channel.k8s.io'], REMOTE_COMMAND_PROTOCOLS), 'v5.channel.k8s.io');
  t.is(chooseSpdyProtocol(['v3.channel.k8s.io'], REMOTE_COMMAND_PROTOCOLS), 'v3.channel.k8s.io');
  t.is(chooseSpdyProtocol([], REMOTE_COMMAND_PROTOCOLS), '');
  t.is(chooseSpdyProtocol(['v9.channel.k8s.io'], REMOTE_COMMAND_PROTOCOLS), null);
});

test("WebSocket negotiation follows the client's order", (t) => {
  const supported = ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v4.base64.channel.k8s.io'];
  t.is(chooseWebSocketProtocol(['v4.base64.channel.k8s.io', 'v5.channel.k8s.io'], supported), 'v4.base64.channel.k8s.io');
  t.is(chooseWebSocketProtocol([], supported), '');
  t.is(chooseWebSocketProtocol(['binary.k8s.io'], supported), null);
});

test('v4 and v5 report an exit code as a Status with an ExitCode cause; earlier versions only a failure text', (t) => {
  const failed = JSON.parse(statusBytes('v4.channel.k8s.io', { exitCode: 3 })!.toString()) as {
    status: string;
    reason: string;
    details: { causes: { reason: string; message: string }[] };
  };
  t.is(failed.status, 'Failure');
  t.is(failed.reason, 'NonZeroExitCode');
  t.deepEqual(failed.details.causes, [{ reason: 'ExitCode', message: '3' }]);
  t.deepEqual(JSON.parse(statusBytes('v5.channel.k8s.io', { exitCode: 0 })!.toString()), { status: 'Success' });
  t.is(statusBytes('v3.channel.k8s.io', { exitCode: 0 }), null);
  t.regex(statusBytes('v2.channel.k8s.io', { exitCode: 2 })!.toString(), /non-zero exit code.*2/);
  t.regex(statusBytes('v4.channel.k8s.io', { error: 'no such container' })!.toString(), /"reason":"InternalError".*no such container/);
});

test('resize messages are read across chunk boundaries, back to back, and bad ones are dropped', (t) => {
  const sizes: TerminalSize[] = [];
  const decoder = new TerminalSizeDecoder((size) => sizes.push(size));
  decoder.push(Buffer.from('{"Width":80,"Hei'));
  decoder.push(Buffer.from('ght":24}\n{"Width":0,"Height":5}{"Width":"x","Height":1}{"Width":132,"Height":43}'));
  decoder.push(Buffer.from('not json}{"Width":10,"Height":2}'));
  t.deepEqual(sizes, [
    { width: 80, height: 24 },
    { width: 132, height: 43 },
    { width: 10, height: 2 },
  ]);
});
