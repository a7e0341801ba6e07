import test from 'ava';
import { parseNetDev, readNetworkUsage } from '../../src/stats/network-usage.js';

const NET_DEV = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    1234      10    0    0    0     0          0         0     1234      10    0    0    0     0       0          0
  eth0: 98765     120    2    4    0     0          0         0    43210      80    1    5    0     0       0          0
 net1:       5       1    0    0    0     0          0         0        6       1    0    0    0     0       0          0
`;

test('parseNetDev reads bytes, packets, errors and drops per interface and leaves loopback out', (t) => {
  t.deepEqual(parseNetDev(NET_DEV), [
    { name: 'eth0', rxBytes: 98765n, rxPackets: 120n, rxErrors: 2n, rxDropped: 4n, txBytes: 43210n, txPackets: 80n, txErrors: 1n, txDropped: 5n },
    { name: 'net1', rxBytes: 5n, rxPackets: 1n, rxErrors: 0n, rxDropped: 0n, txBytes: 6n, txPackets: 1n, txErrors: 0n, txDropped: 0n },
  ]);
});

test('parseNetDev skips malformed lines', (t) => {
  t.deepEqual(parseNetDev('h1\nh2\nbroken line\n eth0: 1 2 3\n'), []);
});

test('readNetworkUsage reads a live process and answers null for one that is gone', async (t) => {
  t.true(Array.isArray(await readNetworkUsage(process.pid)));
  t.is(await readNetworkUsage(2 ** 22 + 1), null);
});
