import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { critest } from '../helpers/critest.js';
import { critestRegistriesConf, publishCritestImages } from '../helpers/critest-images.js';
import { startDaemon } from '../helpers/daemon.js';
import { startRegistry } from '../helpers/registry.js';

/**
 * critest's pod and container specs against crion on real runc, with
 * critest's images rebuilt by the harness and reached through a loopback
 * mirror. No spec of these groups is left out: those that need nginx,
 * nonewprivs, ipcs or a shell that runs /bin/ls from PATH run on the
 * harness's stand-ins (critest-images.ts).
 */

const FOCUS = 'PodSandbox|\\[k8s.io\\] Container |Idempotence|Security Context|Container Mount|Container OOM';

test('critest pod, container, idempotence and security context specs pass on runc', async (t) => {
  // One test that runs 67 specs: ava's default timeout counts between test results.
  t.timeout(900_000);
  const registry = await startRegistry(t);
  await publishCritestImages(registry);
  const dir = await mkdtemp(path.join(tmpdir(), 'crion-critest-runtime-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const registriesConf = path.join(dir, 'registries.conf');
  await writeFile(registriesConf, critestRegistriesConf(registry));
  const daemon = await startDaemon(t, {
    config: `[image]\nregistries_conf = "${registriesConf}"\nregistries_conf_dir = "/nonexistent"\n`,
    logLevel: 'info',
  });

  const result = await critest(daemon, {
    focus: FOCUS,
    timeoutMs: 900_000,
  });
  t.log(`critest ran ${result.ran} of ${result.total} specs`);
  t.true(result.succeeded, result.output);
  // 67 on a host without AppArmor or SELinux; fewer means specs were skipped that should run.
  t.true((result.ran ?? 0) >= 67, `only ${result.ran} specs ran:\n${result.output}`);
});
