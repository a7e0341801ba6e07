import test from 'ava';
import { critest } from '../helpers/critest.js';
import { startCritestDaemon } from '../helpers/critest-images.js';

/**
 * critest's metrics specs ("runtime should support metrics operations"):
 * the descriptors it expects of a runtime, and a running container's pod
 * reporting every described metric with as many label values as keys.
 * Both Skip() themselves when ListMetricDescriptors is UNIMPLEMENTED and
 * ginkgo still calls that a SUCCESS, so both must have passed, and the
 * only skipped specs are the ones the focus left out.
 */

const SPECS = 2;

test('critest metrics specs both run and pass, none skipped', async (t) => {
  t.timeout(600_000);
  const daemon = await startCritestDaemon(t, { logLevel: 'info' });
  const result = await critest(daemon, { focus: 'runtime should support metrics operations', timeoutMs: 600_000 });
  t.log(`critest ran ${result.ran} of ${result.total} specs: ${result.passed} passed, ${result.skipped} skipped`);
  t.true(result.succeeded, result.output);
  t.is(result.ran, SPECS, result.output);
  t.is(result.passed, SPECS, result.output);
  t.is(result.skipped, (result.total ?? 0) - SPECS, `specs skipped themselves:\n${result.output}`);
});
