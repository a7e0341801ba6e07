import test from 'ava';
import { critest } from '../helpers/critest.js';
import { CRITEST_IMAGE_FOCUS, CRITEST_OFFLINE_SKIP, startCritestDaemon } from '../helpers/critest-images.js';

/**
 * critest's image specs with its own image names. critest's
 * `--registry-prefix` rewrites only the pull (and drops the tag), so the
 * names stay upstream's and crion reaches the loopback registry the way an
 * operator's node reaches a local mirror: through registries.conf. The
 * Image Identifier specs run pods and containers on runc too.
 */

test('critest image specs pass against the loopback mirror', async (t) => {
  const daemon = await startCritestDaemon(t);

  const result = await critest(daemon, {
    focus: CRITEST_IMAGE_FOCUS,
    skip: CRITEST_OFFLINE_SKIP,
    timeoutMs: 300_000,
  });
  t.log(`critest ran ${result.ran} of ${result.total} specs`);
  t.true(result.succeeded, result.output);
  t.true((result.ran ?? 0) >= 14, `only ${result.ran} specs ran:\n${result.output}`);
});
