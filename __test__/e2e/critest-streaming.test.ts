import test from 'ava';
import { createServer } from 'node:net';
import { assertGroupPassed, critestGroup, CRITEST_GROUPS } from '../helpers/critest-groups.js';
import { startCritestDaemon } from '../helpers/critest-images.js';

/**
 * critest's Streaming specs: exec without and with a terminal, attach,
 * port-forward to a pod and to a host-network pod. critest speaks SPDY by
 * default; its --websocket-* flags switch each kind of session to a
 * WebSocket (channels for exec and attach, SPDY tunnelled through the
 * WebSocket for port-forward, as client-go does).
 */

/** The local ports critest's port-forward specs listen on (webServerHostPortForPortForward, …ForHostNetPortForward). */
const LOCAL_PORTS = [12001, 12002];

function assertPortFree(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (error) => reject(new Error(`port ${port} must be free for critest's port-forward specs: ${error.message}`)));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve()));
  });
}

for (const transport of ['SPDY', 'WebSocket'] as const) {
  test.serial(`critest streaming specs pass over ${transport}`, async (t) => {
    t.timeout(600_000);
    for (const port of LOCAL_PORTS) await assertPortFree(port);
    const daemon = await startCritestDaemon(t, { logLevel: 'info' });
    const result = await critestGroup(daemon, CRITEST_GROUPS.streaming, {
      timeoutMs: 600_000,
      extraArgs: transport === 'WebSocket' ? ['--websocket-exec', '--websocket-attach', '--websocket-portforward'] : [],
    });
    assertGroupPassed(t, CRITEST_GROUPS.streaming, result);
  });
}
