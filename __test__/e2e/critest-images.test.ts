import test from 'ava';
import { assertGroupPassed, critestGroup, CRITEST_GROUPS } from '../helpers/critest-groups.js';
import { startCritestDaemon } from '../helpers/critest-images.js';

/**
 * critest's image specs with its own image names. critest's
 * `--registry-prefix` rewrites only the pull (and drops the tag), so the
 * names stay upstream's and crion reaches the loopback registry the way an
 * operator's node reaches a local mirror: through registries.conf. The
 * Image Identifier specs run pods and containers on runc too.
 */

test('critest image specs pass against the loopback mirror', async (t) => {
  const daemon = await startCritestDaemon(t);
  assertGroupPassed(t, CRITEST_GROUPS.images, await critestGroup(daemon, CRITEST_GROUPS.images, { timeoutMs: 300_000 }));
});
