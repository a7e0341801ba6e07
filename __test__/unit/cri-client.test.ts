import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { CriImageClient, CriRuntimeClient, DaemonCallError, DaemonUnreachableError, unreachableReason } from '../../src/cri/client.js';
import { CriServer } from '../../src/cri/server.js';
import type { ServiceRpcs } from '../../src/cri/services.js';
import { NotFoundError, UnavailableError } from '../../src/errors.js';
import type { ImageServiceHandlers } from '../../src/generated/runtime/v1/ImageService.js';
import type { RuntimeServiceHandlers } from '../../src/generated/runtime/v1/RuntimeService.js';
import { createLogger } from '../../src/log/logger.js';

/** The CLI's client against fake daemons (a CriServer with fake image RPCs) and against sockets with no daemon at all. */

async function scratchDir(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'crion-client-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function fakeDaemon(
  t: { teardown(fn: () => Promise<void>): void },
  image: ServiceRpcs<ImageServiceHandlers>,
  runtime: ServiceRpcs<RuntimeServiceHandlers> = {},
) {
  const endpoint = `unix://${path.join(await scratchDir(t), 'crion.sock')}`;
  const server = await CriServer.start({ listen: endpoint, log: createLogger({ level: 'fatal', format: 'json' }), runtime, image });
  t.teardown(async () => void (await server.shutdown(0)));
  return { endpoint, server };
}

async function connected(t: { teardown(fn: () => void): void }, endpoint: string): Promise<CriImageClient> {
  const client = await CriImageClient.connect(endpoint);
  t.teardown(() => client.close());
  return client;
}

test("UNAVAILABLE from the daemon (a registry it cannot reach) is the daemon's answer, not a connection failure", async (t) => {
  const reason = 'pulling nosuch.invalid/app:1: nosuch.invalid: no such host (ENOTFOUND)';
  const { endpoint } = await fakeDaemon(t, {
    PullImage: async () => {
      throw new UnavailableError(reason);
    },
  });
  const client = await connected(t, endpoint);
  const error = await t.throwsAsync(client.pull('nosuch.invalid/app:1'), { instanceOf: DaemonCallError });
  t.is(error.code, 'UNAVAILABLE');
  t.is(error.message, `crion daemon at ${endpoint}: pull of nosuch.invalid/app:1 failed: ${reason}`);
});

test('any other status the daemon sends is reported with its own message and its code', async (t) => {
  const { endpoint } = await fakeDaemon(t, {
    RemoveImage: async () => {
      throw new NotFoundError('image "app:1" is in use by container 0123');
    },
  });
  const client = await connected(t, endpoint);
  const error = await t.throwsAsync(client.remove('app:1'), { instanceOf: DaemonCallError });
  t.is(error.code, 'NOT_FOUND');
  t.is(error.message, `crion daemon at ${endpoint}: removal of app:1 failed: image "app:1" is in use by container 0123`);
});

test('the runtime client lists pods, containers and their stats, within a deadline when given one', async (t) => {
  const { endpoint } = await fakeDaemon(
    t,
    {},
    {
      ListPodSandbox: async () => ({ items: [{ id: 'p1', metadata: { name: 'web', namespace: 'default', uid: 'u', attempt: 0 } }] }),
      ListContainers: async () => ({ containers: [{ id: 'c1', podSandboxId: 'p1', metadata: { name: 'app', attempt: 2 } }] }),
      ListContainerStats: async () => {
        throw new UnavailableError('stats are resting');
      },
    },
  );
  const client = await CriRuntimeClient.connect(endpoint);
  t.teardown(() => client.close());
  t.like((await client.listPods())[0], { id: 'p1', metadata: { name: 'web' } });
  t.like((await client.listContainers({ deadline: new Date(Date.now() + 5000) }))[0], { id: 'c1', podSandboxId: 'p1', metadata: { attempt: 2 } });
  const error = await t.throwsAsync(client.listContainerStats(), { instanceOf: DaemonCallError });
  t.is(error.message, `crion daemon at ${endpoint}: listing container stats failed: stats are resting`);
});

test('a listing the daemon does not answer by its deadline fails as DEADLINE_EXCEEDED', async (t) => {
  const { endpoint } = await fakeDaemon(t, {}, { ListPodSandbox: () => new Promise(() => undefined) });
  const client = await CriRuntimeClient.connect(endpoint);
  t.teardown(() => client.close());
  const error = await t.throwsAsync(client.listPods({ deadline: new Date(Date.now() + 200) }), { instanceOf: DaemonCallError });
  t.is(error.code, 'DEADLINE_EXCEEDED');
});

test('no socket at the endpoint: ENOENT, named with the endpoint', async (t) => {
  const endpoint = `unix://${path.join(await scratchDir(t), 'crion.sock')}`;
  const error = await t.throwsAsync(CriImageClient.connect(endpoint), { instanceOf: DaemonUnreachableError });
  t.is(error.message, `cannot reach the crion daemon at ${endpoint}: no socket there (ENOENT); is the daemon running?`);
});

test('a socket a crashed daemon left behind: ECONNREFUSED', async (t) => {
  const socketPath = path.join(await scratchDir(t), 'crion.sock');
  // A child that binds and is killed leaves the inode behind with nobody accepting on it.
  const child = spawnSync(process.execPath, [
    '-e',
    `require('net').createServer().listen(${JSON.stringify(socketPath)}, () => process.kill(process.pid, 'SIGKILL'))`,
  ]);
  t.is(child.signal, 'SIGKILL');
  const error = await t.throwsAsync(CriImageClient.connect(`unix://${socketPath}`), { instanceOf: DaemonUnreachableError });
  t.regex(
    error.message,
    new RegExp(`^cannot reach the crion daemon at unix://${socketPath}: nothing accepts connections on the socket \\(ECONNREFUSED\\)`),
  );
});

test('a socket that accepts but never speaks gRPC is reported after the connect timeout', async (t) => {
  const socketPath = path.join(await scratchDir(t), 'crion.sock');
  const accepted: Socket[] = [];
  const mute = createServer((connection) => accepted.push(connection)).listen(socketPath);
  await once(mute, 'listening');
  // close() waits for open connections, and an open one keeps the test worker alive after its last test.
  t.teardown(() => {
    for (const connection of accepted) connection.destroy();
    mute.close();
  });
  const started = Date.now();
  const error = await t.throwsAsync(CriImageClient.connect(`unix://${socketPath}`, 300), { instanceOf: DaemonUnreachableError });
  t.regex(error.message, /the socket accepts connections but gave no gRPC answer within 0\.3 s/);
  t.true(Date.now() - started < 3000, 'bounded by the timeout');
});

test('the connect errors an operator meets are sentences with the errno; any other keeps the kernel message', (t) => {
  const errno = (code: string, message: string) => Object.assign(new Error(message), { code });
  t.is(
    unreachableReason(errno('EACCES', 'connect EACCES /run/crion/crion.sock')),
    'permission denied (EACCES); the socket is open to its owner and group only: run as root or as a member of its group',
  );
  t.is(unreachableReason(errno('ENOTDIR', 'connect ENOTDIR /run/crion.conf/crion.sock')), 'connect ENOTDIR /run/crion.conf/crion.sock');
});
