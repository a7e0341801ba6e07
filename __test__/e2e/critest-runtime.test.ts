import test from 'ava';
import { readFile } from 'node:fs/promises';
import { assertGroupPassed, critestGroup, CRITEST_GROUPS } from '../helpers/critest-groups.js';
import { startCritestDaemon } from '../helpers/critest-images.js';
import { run } from '../helpers/process.js';

/**
 * critest's pod and container specs against crion on real runc, with
 * critest's images rebuilt by the harness and reached through a loopback
 * mirror. No spec of these groups is left out: those that need nginx,
 * nonewprivs, ipcs or a shell that runs /bin/ls from PATH run on the
 * harness's stand-ins (critest-images.ts).
 */

/** The host IPC namespace's shared memory segments: id and how many processes have it attached. */
async function hostSegments(): Promise<Array<{ id: string; attached: number }>> {
  // Columns: key shmid perms size cpid lpid nattch ...
  const rows = (await readFile('/proc/sysvipc/shm', 'utf8'))
    .split('\n')
    .slice(1)
    .filter(Boolean)
    .map((line) => line.trim().split(/\s+/));
  return rows.map((row) => ({ id: row[1]!, attached: Number(row[6]) }));
}

test('critest pod, container, idempotence and security context specs pass on runc', async (t) => {
  // One test that runs 67 specs: ava's default timeout counts between test results.
  t.timeout(900_000);
  // The HostIpc specs make a segment on the host with `ipcmk -M` and never remove it.
  const segmentsBefore = new Set((await hostSegments()).map((segment) => segment.id));
  t.teardown(async () => {
    for (const { id, attached } of await hostSegments()) {
      if (!segmentsBefore.has(id) && attached === 0) await run('ipcrm', ['-m', id]);
    }
  });
  const daemon = await startCritestDaemon(t, { logLevel: 'info' });

  assertGroupPassed(t, CRITEST_GROUPS.runtime, await critestGroup(daemon, CRITEST_GROUPS.runtime, { timeoutMs: 900_000 }));
});
