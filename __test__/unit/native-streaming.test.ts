import test from 'ava';
import {
  bindConsoleSocket,
  connectInNetns,
  NativeError,
  NETNS_CONNECT_TIMEOUT_MS,
  setWindowSize,
  type ConsoleSocketAddon,
  type NetnsConnectAddon,
  type TerminalAddon,
} from '../../src/native/index.js';

function coded(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

test('connectInNetns passes the path, port and default timeout, and rebuilds a refusal as a NativeError', async (t) => {
  const calls: unknown[][] = [];
  const addon: NetnsConnectAddon = {
    connectInNetns: (...args) => {
      calls.push(args);
      return args[1] === 80 ? Promise.resolve(17) : Promise.reject(coded('ERR_NETNS_CONNECT_REFUSED', 'connecting to localhost:81: refused'));
    },
  };
  t.is(await connectInNetns('/run/ns/net', 80, undefined, addon), 17);
  const error = await t.throwsAsync(connectInNetns(null, 81, 500, addon), { instanceOf: NativeError });
  t.is(error?.code, 'ERR_NETNS_CONNECT_REFUSED');
  t.deepEqual(calls, [
    ['/run/ns/net', 80, NETNS_CONNECT_TIMEOUT_MS],
    [null, 81, 500],
  ]);
});

test('connectInNetns refuses a port or timeout napi would wrap, without calling the addon', async (t) => {
  const addon: NetnsConnectAddon = { connectInNetns: () => t.fail('called') };
  for (const port of [0, -1, 65_536, 1.5, Number.NaN]) {
    await t.throwsAsync(connectInNetns(null, port, 1000, addon), { instanceOf: RangeError }, String(port));
  }
  await t.throwsAsync(connectInNetns(null, 80, -1, addon), { instanceOf: RangeError });
});

test('a console socket passes receive and close through, rebuilding errors', async (t) => {
  const events: string[] = [];
  const addon: ConsoleSocketAddon = {
    bindConsoleSocket: (path) => ({
      path,
      receive: (timeoutMs: number) => {
        events.push(`receive ${timeoutMs}`);
        return Promise.reject(coded('ERR_CONSOLE_SOCKET_TIMEOUT', `nothing on ${path}`));
      },
      close: () => void events.push('close'),
    }),
  };
  const socket = bindConsoleSocket('/run/crion/exec/console.sock', addon);
  t.is(socket.path, '/run/crion/exec/console.sock');
  const error = await t.throwsAsync(socket.receive(250), { instanceOf: NativeError });
  t.is(error?.code, 'ERR_CONSOLE_SOCKET_TIMEOUT');
  await t.throwsAsync(socket.receive(-5), { instanceOf: RangeError });
  socket.close();
  t.deepEqual(events, ['receive 250', 'close']);
});

test('setWindowSize checks fd and dimensions before the ioctl and rebuilds its errors', (t) => {
  const calls: number[][] = [];
  const addon: TerminalAddon = {
    setWindowSize: (fd, rows, cols) => {
      calls.push([fd, rows, cols]);
      if (fd === 3) throw coded('ERR_TERMINAL_NOT_A_TTY', 'descriptor 3 is not a terminal');
    },
  };
  setWindowSize(9, 24, 80, addon);
  t.is(t.throws(() => setWindowSize(3, 24, 80, addon), { instanceOf: NativeError })?.code, 'ERR_TERMINAL_NOT_A_TTY');
  for (const [fd, rows, cols] of [
    [-1, 24, 80],
    [9, 65_536, 80],
    [9, 24, 2.5],
  ] as const) {
    t.throws(() => setWindowSize(fd, rows, cols, addon), { instanceOf: RangeError });
  }
  t.deepEqual(calls, [
    [9, 24, 80],
    [3, 24, 80],
  ]);
});
