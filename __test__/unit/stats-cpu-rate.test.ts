import test from 'ava';
import { CpuRates } from '../../src/stats/cpu-rate.js';

const SECOND = 1_000_000_000n;

test('the rate is CPU time over wall time since the previous sample of the same key', (t) => {
  let now = 0n;
  const rates = new CpuRates(() => now);
  t.is(rates.sample('a', 1n * SECOND), null, 'the first sample has no rate');
  now = 2n * SECOND;
  // 1.5 s of CPU in 2 s of wall time: 0.75 cores.
  t.is(rates.sample('a', 2_500_000_000n), 750_000_000n);
  t.is(rates.sample('b', 10n), null, 'keys are independent');
  now = 3n * SECOND;
  t.is(rates.sample('a', 4_500_000_000n), 2n * SECOND, 'two busy cores');
});

test('samples inside the minimum window get the last rate and keep the base', (t) => {
  let now = 0n;
  const rates = new CpuRates(() => now, SECOND);
  rates.sample('a', 0n);
  now = 10_000_000n;
  t.is(rates.sample('a', 9_000_000n), null, 'no rate has been computed yet');
  now = 2n * SECOND;
  t.is(rates.sample('a', SECOND), 500_000_000n, 'measured from the first sample, not the one 10 ms in');
  now = 2n * SECOND + 5_000_000n;
  t.is(rates.sample('a', SECOND + 5_000_000n), 500_000_000n, 'a caller right after gets the same rate');
});

test('no rate when the counter went backwards', (t) => {
  let now = 0n;
  const rates = new CpuRates(() => now);
  rates.sample('pod', 500n);
  now = 2n * SECOND;
  t.is(rates.sample('pod', 100n), null, 'a pod sum drops when a container exits');
  now = 3n * SECOND;
  t.is(rates.sample('pod', SECOND + 100n), SECOND, 'the lower sample became the base');
});

test('retain forgets removed keys', (t) => {
  let now = 0n;
  const rates = new CpuRates(() => now);
  rates.sample('gone', 1n);
  rates.sample('kept', 1n);
  rates.retain((key) => key === 'kept');
  now = SECOND;
  t.is(rates.sample('gone', 2n), null);
  t.is(rates.sample('kept', 2n), 1n);
});
