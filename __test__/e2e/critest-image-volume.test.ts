import test from 'ava';
import { critest } from '../helpers/critest.js';
import { startCritestDaemon } from '../helpers/critest-images.js';

/**
 * critest's Image Volume specs (KEP-4639) against crion on real runc. Each
 * of them calls Skip() when the runtime does not do its part (no image_ref
 * in the status mounts, no content at the mount point, a sub-path ignored,
 * a writable image volume or a missing sub-path accepted), and ginkgo
 * still calls such a run a SUCCESS: so every spec must have passed, and
 * the only skipped ones are those the focus left out.
 */

const SPECS = 5;

test('critest Image Volume specs all run and pass, none skipped', async (t) => {
  t.timeout(600_000);
  const daemon = await startCritestDaemon(t, { logLevel: 'info' });
  const result = await critest(daemon, { focus: '\\[Feature:ImageVolume\\]', timeoutMs: 600_000 });
  t.log(`critest ran ${result.ran} of ${result.total} specs: ${result.passed} passed, ${result.skipped} skipped`);
  t.true(result.succeeded, result.output);
  t.is(result.ran, SPECS, result.output);
  t.is(result.passed, SPECS, result.output);
  t.is(result.skipped, (result.total ?? 0) - SPECS, `specs skipped themselves:\n${result.output}`);
});
