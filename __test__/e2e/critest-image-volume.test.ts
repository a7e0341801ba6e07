import test from 'ava';
import { assertGroupPassed, critestGroup, CRITEST_GROUPS } from '../helpers/critest-groups.js';
import { startCritestDaemon } from '../helpers/critest-images.js';

/**
 * critest's Image Volume specs (KEP-4639) against crion on real runc. Each
 * of them calls Skip() when the runtime does not do its part (no image_ref
 * in the status mounts, no content at the mount point, a sub-path ignored,
 * a writable image volume or a missing sub-path accepted), and ginkgo
 * still calls such a run a SUCCESS: so every spec must have passed, and
 * none may have skipped itself.
 */

test('critest Image Volume specs all run and pass, none skipped', async (t) => {
  t.timeout(600_000);
  const daemon = await startCritestDaemon(t, { logLevel: 'info' });
  assertGroupPassed(t, CRITEST_GROUPS.imageVolume, await critestGroup(daemon, CRITEST_GROUPS.imageVolume, { timeoutMs: 600_000 }));
});
