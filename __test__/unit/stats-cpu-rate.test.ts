import test from 'ava';
import { CpuRates } from '../../src/stats/cpu-rate.js';

test('the rate is CPU time over wall time since the previous sample of the same key', (t) => {
  let now = 0n;
  const rates = new CpuRates(() => now);
  t.is(rates.sample('a', 1_000_000_000n), null, 'the first sample has no rate');
  now = 2_000_000_000n;
  // 1.5 s of CPU in 2 s of wall time: 0.75 cores.
  t.is(rates.sample('a', 2_500_000_000n), 750_000_000n);
  t.is(rates.sample('b', 10n), null, 'keys are independent');
  now = 3_000_000_000n;
  t.is(rates.sample('a', 4_500_000_000n), 2_000_000_000n, 'two busy cores');
});

test('no rate when the counter went backwards or no time passed', (t) => {
  let now = 1n;
  const rates = new CpuRates(() => now);
  rates.sample('pod', 500n);
  now = 2n;
  t.is(rates.sample('pod', 100n), null, 'a pod sum drops when a container exits');
  now = 1_000_000_002n;
  t.is(rates.sample('pod', 1_000_000_100n), 1_000_000_000n, 'the lower sample became the base');
  t.is(rates.sample('pod', 1_000_000_200n), null, 'same instant');
});

test('retain forgets removed keys', (t) => {
  let now = 0n;
  const rates = new CpuRates(() => now);
  rates.sample('gone', 1n);
  rates.sample('kept', 1n);
  rates.retain((key) => key === 'kept');
  now = 1_000_000_000n;
  t.is(rates.sample('gone', 2n), null);
  t.is(rates.sample('kept', 2n), 1n);
});
