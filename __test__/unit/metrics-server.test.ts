import test, { type ExecutionContext } from 'ava';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { request } from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { FailedPreconditionError } from '../../src/errors.js';
import { createLogger } from '../../src/log/logger.js';
import { MetricsServer } from '../../src/metrics/metrics-server.js';

/** The endpoint with a fake registry: what it answers where, on TCP and the unix socket, and how it fails to start. */

const log = createLogger({ level: 'fatal', format: 'json', destination: new PassThrough() });
const TEXT = '# HELP crion_fake A fake.\n# TYPE crion_fake gauge\ncrion_fake 1\n';
const fakeMetrics = { scrape: async () => ({ contentType: 'text/plain; version=0.0.4; charset=utf-8', text: TEXT }) };

async function socketDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'crion-metrics-server-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function get(
  at: { port: number } | { socketPath: string },
  urlPath: string,
  method = 'GET',
): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const target = 'port' in at ? { host: '127.0.0.1', port: at.port } : { socketPath: at.socketPath };
    const call = request({ ...target, path: urlPath, method }, (response) => {
      let body = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, type: String(response.headers['content-type']), body }));
    });
    call.on('error', reject);
    call.end();
  });
}

test('GET /metrics answers the exposition on TCP and on the 0660 socket; other paths are 404, other methods 405', async (t) => {
  const socket = path.join(await socketDir(t), 'metrics.sock');
  const server = await MetricsServer.start({ address: '127.0.0.1:0', socket, metrics: fakeMetrics, log });
  t.teardown(() => server.close());
  const port = Number(new URL(server.url).port);
  t.is(server.url, `http://127.0.0.1:${port}/metrics`);
  t.deepEqual(await get({ port }, '/metrics'), { status: 200, type: 'text/plain; version=0.0.4; charset=utf-8', body: TEXT });
  t.like(await get({ port }, '/metrics?format=text'), { status: 200, body: TEXT });
  t.like(await get({ socketPath: socket }, '/metrics'), { status: 200, body: TEXT });
  t.like(await get({ port }, '/metrics', 'HEAD'), { status: 200, body: '' });
  t.like(await get({ port }, '/'), { status: 404 });
  t.like(await get({ port }, '/metrics', 'POST'), { status: 405 });
  t.is((await stat(socket)).mode & 0o777, 0o660);
  await server.close();
  await t.throwsAsync(stat(socket), { code: 'ENOENT' }, 'close removes the socket');
});

test('a scrape that throws is a 500, not a crash', async (t) => {
  const server = await MetricsServer.start({
    address: '127.0.0.1:0',
    socket: '',
    metrics: { scrape: () => Promise.reject(new Error('a collector broke')) },
    log,
  });
  t.teardown(() => server.close());
  t.like(await get({ port: Number(new URL(server.url).port) }, '/metrics'), { status: 500 });
});

test('a port in use is FAILED_PRECONDITION naming metrics.address; a socket another server holds is refused too', async (t) => {
  const holder = net.createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => holder.close(() => resolve())));
  const { port } = holder.address() as net.AddressInfo;
  await t.throwsAsync(MetricsServer.start({ address: `127.0.0.1:${port}`, socket: '', metrics: fakeMetrics, log }), {
    instanceOf: FailedPreconditionError,
    message: `metrics.address 127.0.0.1:${port}: the port is already in use; free it or choose another`,
  });

  const socket = path.join(await socketDir(t), 'metrics.sock');
  const first = await MetricsServer.start({ address: '127.0.0.1:0', socket, metrics: fakeMetrics, log });
  t.teardown(() => first.close());
  await t.throwsAsync(MetricsServer.start({ address: '127.0.0.1:0', socket, metrics: fakeMetrics, log }), { message: /already serving/ });
  t.like(await get({ socketPath: socket }, '/metrics'), { status: 200 }, 'the first server keeps its socket');
});

test('an IPv6 address is served, and shown in brackets', async (t) => {
  const server = await MetricsServer.start({ address: '[::1]:0', socket: '', metrics: fakeMetrics, log });
  t.teardown(() => server.close());
  t.regex(server.url, /^http:\/\/\[::1\]:\d+\/metrics$/);
  t.is((await fetch(server.url)).status, 200);
});
