import test from 'ava';
import { createServer } from 'node:net';
import { assertGroupPassed, critestGroup, CRITEST_GROUPS } from '../helpers/critest-groups.js';
import { startCritestDaemon } from '../helpers/critest-images.js';

/**
 * critest's Networking specs (DNS config, hostname, port mapping to the pod IP
 * and to a host port) and its Multiple Containers specs (an httpd and a busybox
 * container in one pod, reached on the pod IP) on a real CNI bridge network,
 * with the web server stand-ins served through the loopback mirror.
 */

/** The host port critest's port mapping spec maps to the web server's port 80. */
const HOST_PORT = 12000;

/** Fails early and by name when another process holds the port, instead of a spec timing out on someone else's server. */
function assertPortFree(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (error) => reject(new Error(`host port ${port} must be free for critest's port mapping spec: ${error.message}`)));
    server.listen({ port, host: '0.0.0.0', exclusive: true }, () => server.close(() => resolve()));
  });
}

test('critest networking and multiple containers specs pass on a CNI bridge network', async (t) => {
  // One test for the whole critest run: ava's default timeout counts between test results.
  t.timeout(600_000);
  await assertPortFree(HOST_PORT);
  // The daemon writes its default bridge network (bridge, host-local, portmap) on a bridge and subnet of its own.
  const daemon = await startCritestDaemon(t, { logLevel: 'info' });

  // Four Networking specs and three Multiple Containers specs.
  assertGroupPassed(t, CRITEST_GROUPS.network, await critestGroup(daemon, CRITEST_GROUPS.network, { timeoutMs: 600_000 }));
});
