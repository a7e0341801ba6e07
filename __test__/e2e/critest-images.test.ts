import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { critest } from '../helpers/critest.js';
import {
  CRITEST_IMAGE_FOCUS,
  CRITEST_OFFLINE_SKIP,
  critestRegistriesConf,
  publishCritestImages,
} from '../helpers/critest-images.js';
import { startDaemon } from '../helpers/daemon.js';
import { startRegistry } from '../helpers/registry.js';

/**
 * critest's image specs with its own image names. critest's
 * `--registry-prefix` rewrites only the pull (and drops the tag), so the
 * names stay upstream's and crion reaches the loopback registry the way an
 * operator's node reaches a local mirror: through registries.conf. The
 * Image Identifier specs run pods and containers on runc too.
 */

test('critest image specs pass against the loopback mirror', async (t) => {
  const registry = await startRegistry(t);
  await publishCritestImages(registry);
  const dir = await mkdtemp(path.join(tmpdir(), 'crion-critest-images-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const registriesConf = path.join(dir, 'registries.conf');
  await writeFile(registriesConf, critestRegistriesConf(registry));
  const daemon = await startDaemon(t, {
    config: `[image]\nregistries_conf = "${registriesConf}"\nregistries_conf_dir = "/nonexistent"\n`,
  });

  const result = await critest(daemon, {
    focus: CRITEST_IMAGE_FOCUS,
    skip: CRITEST_OFFLINE_SKIP,
    timeoutMs: 300_000,
  });
  t.log(`critest ran ${result.ran} of ${result.total} specs`);
  t.true(result.succeeded, result.output);
  t.true((result.ran ?? 0) >= 14, `only ${result.ran} specs ran:\n${result.output}`);
});
