import test from 'ava';
import { podBandwidth } from '../../src/network/pod-bandwidth.js';

/** The kubelet's bandwidth annotations as the CNI bandwidth plugin's capability. */

const INGRESS = 'kubernetes.io/ingress-bandwidth';
const EGRESS = 'kubernetes.io/egress-bandwidth';

test('no annotation, no shaping', (t) => {
  t.is(podBandwidth({ other: '1M' }), null);
});

const rates: ReadonlyArray<readonly [string, number]> = [
  ['1k', 1e3],
  ['10M', 1e7],
  ['2.5G', 2.5e9],
  ['1Mi', 2 ** 20],
  ['3Gi', 3 * 2 ** 30],
  ['1e6', 1e6],
  ['1000000', 1e6],
  [' 1P ', 1e15],
];

for (const [text, bits] of rates) {
  test(`${JSON.stringify(text)} is ${bits} bits per second with an unlimited burst`, (t) => {
    t.deepEqual(podBandwidth({ [INGRESS]: text }), { ingressRate: bits, ingressBurst: 2 ** 32 - 1 });
    t.deepEqual(podBandwidth({ [EGRESS]: text }), { egressRate: bits, egressBurst: 2 ** 32 - 1 });
  });
}

const refused: ReadonlyArray<readonly [string, RegExp]> = [
  ['fast', /is not a quantity/],
  ['10 M', /is not a quantity/],
  ['-1M', /is not a quantity/],
  ['10m', /is not a quantity/],
  ['999', /outside 1k to 1P/],
  ['2P', /outside 1k to 1P/],
];

for (const [text, reason] of refused) {
  test(`${JSON.stringify(text)} is refused as INVALID_ARGUMENT naming the annotation`, (t) => {
    const error = t.throws(() => podBandwidth({ [INGRESS]: text }));
    t.is(error?.name, 'InvalidArgumentError');
    t.regex(error?.message ?? '', new RegExp(`^annotation ${INGRESS}: `));
    t.regex(error?.message ?? '', reason);
  });
}
