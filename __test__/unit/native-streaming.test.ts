import test from 'ava';
import {
  connectInNetns,
  NativeError,
  NETNS_CONNECT_TIMEOUT_MS,
  openPty,
  setWindowSize,
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

test('openPty passes the size and rebuilds a failure as a NativeError', (t) => {
  const calls: number[][] = [];
  const addon: TerminalAddon = {
    setWindowSize: () => t.fail('not called'),
    openPty: (rows, cols) => {
      calls.push([rows, cols]);
      if (rows === 1) throw coded('ERR_TERMINAL_OPEN', 'opening a new pseudo-terminal through /dev/ptmx');
      return { master: 20, slave: 21 };
    },
  };
  t.deepEqual(openPty(24, 80, addon), { master: 20, slave: 21 });
  t.is(t.throws(() => openPty(1, 80, addon), { instanceOf: NativeError })?.code, 'ERR_TERMINAL_OPEN');
  t.throws(() => openPty(24, 70_000, addon), { instanceOf: RangeError });
  t.deepEqual(calls, [
    [24, 80],
    [1, 80],
  ]);
});

test('setWindowSize checks fd and dimensions before the ioctl and rebuilds its errors', (t) => {
  const calls: number[][] = [];
  const addon: TerminalAddon = {
    openPty: () => t.fail('not called'),
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
