import test from 'ava';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AdminCallError, adminDocument, adminGet } from '../../src/admin/admin-client.js';
import { errorReply, type AdminReply } from '../../src/admin/admin-routes.js';
import { AdminServer, adminSocketFor } from '../../src/admin/admin-server.js';
import { DaemonUnreachableError } from '../../src/cri/client.js';

/** The admin socket's HTTP server and the CLI's client for it, over a real unix socket with a fake router. */

async function serve(t: { teardown(fn: () => Promise<void>): void }, route: (method: string, url: string) => Promise<AdminReply>) {
  const dir = await mkdtemp(path.join(tmpdir(), 'crion-admin-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const server = await AdminServer.start(path.join(dir, 'crion-admin.sock'), route);
  t.teardown(() => server.close());
  return server;
}

test('the admin socket is named after the CRI socket and sits beside it', (t) => {
  t.is(adminSocketFor('unix:///run/crion/crion.sock'), '/run/crion/crion-admin.sock');
  t.is(adminSocketFor('unix:///tmp/a/other.sock'), '/tmp/a/other-admin.sock');
});

test("replies are written as the router gives them, JSON parsed by the client, and the socket is its owner's and group's", async (t) => {
  const server = await serve(t, async (method, url) =>
    url === '/config'
      ? { status: 200, headers: { 'content-type': 'application/toml' }, body: 'root = "/x"\n' }
      : { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ method, url }) },
  );
  t.is((await stat(server.socketPath)).mode & 0o777, 0o660);
  t.deepEqual(await adminGet(server.socketPath, '/info?x=1'), { status: 200, body: { method: 'GET', url: '/info?x=1' } });
  t.deepEqual(await adminGet(server.socketPath, '/config'), { status: 200, body: 'root = "/x"\n' });
});

test("a route that throws is 500 with its message; a status other than 200 is the daemon's answer, not a failure to reach it", async (t) => {
  const server = await serve(t, async (_method, url) => {
    if (url === '/boom') throw new Error('cannot read the bundle');
    return errorReply(404, 'no such route: /gone');
  });
  t.deepEqual(await adminGet(server.socketPath, '/boom'), { status: 500, body: { error: 'cannot read the bundle' } });
  const error = await t.throwsAsync(adminDocument(server.socketPath, '/gone'), { instanceOf: AdminCallError });
  t.is(error.status, 404);
  t.is(error.message, `crion daemon at unix://${server.socketPath}: GET /gone answered 404: no such route: /gone`);
});

test('closing removes the socket; a client then cannot reach the daemon and says why', async (t) => {
  const server = await serve(t, async () => errorReply(404, 'none'));
  await server.close();
  await t.throwsAsync(stat(server.socketPath), { code: 'ENOENT' });
  const error = await t.throwsAsync(adminGet(server.socketPath, '/info'), { instanceOf: DaemonUnreachableError });
  t.is(error.message, `cannot reach the crion daemon at unix://${server.socketPath}: no socket there (ENOENT); is the daemon running?`);
});
