import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { request } from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { crictl, crictlDaemonFlags, crictlJson, crictlOk } from '../helpers/crictl.js';
import { createBusyboxContainer, OWN_PID, runBusyboxPod } from '../helpers/crictl-pods.js';
import { spawnDaemon, startDaemon, type Daemon } from '../helpers/daemon.js';
import { freePort } from '../helpers/free-port.js';
import { sharedImageSource } from '../helpers/image-source.js';
import { run } from '../helpers/process.js';
import { parsePrometheusText, type Scrape } from '../helpers/prometheus-text.js';
import { toolFromEnv } from '../helpers/repo.js';
import { waitFor } from '../helpers/wait-for.js';

/**
 * The Prometheus endpoint of a real daemon, scraped before and after a
 * lifecycle driven through crictl and read with the reference parser: each
 * counter moves by exactly what the lifecycle did, the gauges follow the
 * containers and a held exec session, and the unix socket serves the same.
 */

const source = sharedImageSource(test);

function metricsConfig(port: number, socket: string): string {
  return source.daemonConfig(`[metrics]`, `enabled = true`, `address = "127.0.0.1:${port}"`, `socket = "${socket}"`);
}

async function scrapeTcp(port: number, urlPath = '/metrics'): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${port}${urlPath}`);
  return { status: response.status, body: await response.text() };
}

function scrapeUnix(socketPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const call = request({ socketPath, path: '/metrics' }, (response) => {
      let body = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    call.on('error', reject);
    call.end();
  });
}

async function scrape(port: number): Promise<Scrape> {
  const { status, body } = await scrapeTcp(port);
  if (status !== 200) throw new Error(`GET /metrics answered ${status}: ${body}`);
  return parsePrometheusText(body);
}

async function exitedWith(daemon: Daemon, id: string): Promise<{ exitCode: number; reason: string }> {
  return waitFor(`container ${id} to exit`, async () => {
    const { status } = await crictlJson<{ status: { state: string; exitCode?: number; reason: string } }>(daemon, ['inspect', id]);
    return status.state === 'CONTAINER_EXITED' ? { exitCode: status.exitCode ?? 0, reason: status.reason } : undefined;
  });
}

/** TCP ports the process listens on, from ss. */
async function listeningPorts(pid: number): Promise<number[]> {
  const listed = await run('ss', ['-Hltnp']);
  return listed.stdout
    .split('\n')
    .filter((line) => line.includes(`pid=${pid},`))
    .map((line) => {
      const local = line.split(/\s+/)[3]!;
      return Number(local.slice(local.lastIndexOf(':') + 1));
    });
}

/** Every sample of that name summed: all the label sets of a counter at once. */
function total(scrape: Scrape, sampleName: string): number {
  return scrape.families.flatMap((family) => family.samples).reduce((sum, sample) => (sample.name === sampleName ? sum + sample.value : sum), 0);
}

test('metrics are off by default: the daemon listens on TCP only for its streaming server', async (t) => {
  const daemon = await startDaemon(t, { config: source.daemonConfig() });
  const serving = await daemon.waitForLog((line) => line.msg === 'serving CRI');
  t.is(serving.metrics, null);
  const streamingPort = Number(new URL(String(serving.streaming)).port);
  t.deepEqual(await listeningPorts(daemon.child.pid!), [streamingPort]);
});

test('a metrics port already taken fails the start, saying which key and why, and leaves no CRI socket', async (t) => {
  const holder = net.createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => holder.close(() => resolve())));
  const { port } = holder.address() as net.AddressInfo;
  const daemon = await spawnDaemon({ config: `[metrics]\nenabled = true\naddress = "127.0.0.1:${port}"\n` });
  t.teardown(() => daemon.dispose());
  const status = await daemon.waitExit(30_000);
  t.not(status.code, 0);
  t.regex(daemon.stderr, new RegExp(`crion: metrics\\.address 127\\.0\\.0\\.1:${port}: the port is already in use`));
  await t.throwsAsync(stat(daemon.socketPath), { code: 'ENOENT' });
});

test('a lifecycle through crictl moves each family by exactly what it did, on TCP and on the unix socket alike', async (t) => {
  t.timeout(300_000);
  const port = await freePort();
  const socketDir = await mkdtemp(path.join(tmpdir(), 'crion-metrics-'));
  t.teardown(() => rm(socketDir, { recursive: true, force: true }));
  const socket = path.join(socketDir, 'metrics.sock');
  const daemon = await startDaemon(t, { config: metricsConfig(port, socket) });
  const serving = await daemon.waitForLog((line) => line.msg === 'serving CRI');
  t.deepEqual(serving.metrics, { url: `http://127.0.0.1:${port}/metrics`, socket });
  t.true((await listeningPorts(daemon.child.pid!)).includes(port));
  t.is((await stat(socket)).mode & 0o777, 0o660);
  t.is((await scrapeTcp(port, '/')).status, 404);
  t.is((await scrapeTcp(port, '/metrics/extra')).status, 404);
  const viaSocket = await scrapeUnix(socket);
  t.is(viaSocket.status, 200);
  t.truthy((await parsePrometheusText(viaSocket.body)).family('crion_operations_latency_seconds'));

  const before = await scrape(port);
  const busybox = source.images.busybox;

  // A pull that fetches the image's one layer, then runBusyboxPod's pull of the same image, which reuses it.
  await crictlOk(daemon, ['pull', busybox.reference]);
  const { podId, podFile } = await runBusyboxPod(daemon, source, 'metered');
  const missing = await crictl(daemon, ['pull', `${source.registry.host}/crion-test/no-such-image:latest`]);
  t.not(missing.code, 0);

  const create = async (name: string, command: string[], extra: Record<string, unknown> = {}) => {
    const created = await createBusyboxContainer(daemon, source, podId, podFile, name, command, extra);
    if (created.code !== 0) throw new Error(`crictl create ${name} exited ${created.code}: ${created.stderr}`);
    return created.stdout.trim();
  };
  const completes = await create('completes', ['true']);
  const fails = await create('fails', ['sh', '-c', 'exit 3']);
  // More than its 32 MiB: dd's one block is the whole allocation.
  const oom = await create('oom', ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=128M', 'count=1'], {
    linux: { security_context: OWN_PID, resources: { memory_limit_in_bytes: 32 * 1024 * 1024 } },
  });
  const sleeper = await create('sleeper', ['sleep', '3600']);
  const idle = await create('idle', ['sleep', '3600']);
  for (const id of [completes, fails, oom, sleeper]) await crictlOk(daemon, ['start', id]);
  t.like(await exitedWith(daemon, completes), { exitCode: 0, reason: 'Completed' });
  t.like(await exitedWith(daemon, fails), { exitCode: 3, reason: 'Error' });
  t.like(await exitedWith(daemon, oom), { exitCode: 137, reason: 'OOMKilled' });

  const unknown = await crictl(daemon, ['inspect', 'feedfacefeedfacefeedface']);
  t.not(unknown.code, 0);

  // An exec session held open by its stdin is one open exec stream until the command ends.
  const exec = spawn(toolFromEnv('CRION_CRICTL'), [...crictlDaemonFlags(daemon), 'exec', '-i', sleeper, 'cat'], { stdio: ['pipe', 'pipe', 'pipe'] });
  t.teardown(() => void exec.kill('SIGKILL'));
  const execExit = new Promise<number | null>((resolve) => exec.once('close', resolve));
  const during = await waitFor('the exec session to be counted', async () => {
    const scraped = await scrape(port);
    return scraped.value('crion_streaming_sessions', { kind: 'exec' }) === 1 ? scraped : undefined;
  });
  t.is(during.value('crion_streaming_sessions', { kind: 'attach' }), 0);
  t.is(during.value('crion_containers', { state: 'running' }), 1);
  t.is(during.value('crion_containers', { state: 'created' }), 1);
  t.is(during.value('crion_containers', { state: 'exited' }), 3);
  t.is(during.value('crion_containers', { state: 'unknown' }), 0);
  t.is(during.value('crion_container_monitors'), 2, 'the sleeper and the created container have their monitors');
  exec.stdin.end();
  t.is(await execExit, 0);
  await waitFor('the exec session to be closed', async () =>
    (await scrape(port)).value('crion_streaming_sessions', { kind: 'exec' }) === 0 ? true : undefined,
  );

  await crictlOk(daemon, ['stop', '--timeout', '0', sleeper]);
  t.like(await exitedWith(daemon, sleeper), { reason: 'Error' });
  for (const id of [completes, fails, oom, sleeper, idle]) await crictlOk(daemon, ['rm', id]);
  await crictlOk(daemon, ['stopp', podId]);
  await crictlOk(daemon, ['rmp', podId]);

  const after = await scrape(port);
  const moved = (sampleName: string, labels: Record<string, string> = {}) => after.value(sampleName, labels) - before.value(sampleName, labels);
  const calls = (operation: string) => moved('crion_operations_latency_seconds_count', { operation });
  t.is(calls('RunPodSandbox'), 1);
  t.is(calls('PullImage'), 3);
  t.is(calls('CreateContainer'), 5);
  t.is(calls('StartContainer'), 4);
  t.is(calls('StopContainer'), 1);
  t.is(calls('RemoveContainer'), 5);
  t.is(calls('StopPodSandbox'), 1);
  t.is(calls('RemovePodSandbox'), 1);
  t.is(calls('Exec'), 1);
  t.is(moved('crion_operations_errors_total', { operation: 'ContainerStatus', code: 'NOT_FOUND' }), 1);
  t.is(moved('crion_operations_errors_total', { operation: 'PullImage', code: 'NOT_FOUND' }), 1);
  t.is(total(after, 'crion_operations_errors_total') - total(before, 'crion_operations_errors_total'), 2, 'no call failed but those two');

  t.is(moved('crion_image_pulls_layers_total', { result: 'fetched' }), busybox.layers.length);
  t.is(moved('crion_image_pulls_layers_total', { result: 'reused' }), busybox.layers.length);
  t.is(moved('crion_image_pulls_bytes_total'), busybox.layersSize);
  t.is(moved('crion_image_pulls_duration_seconds_count'), 2);
  t.is(moved('crion_image_pulls_failure_total', { reason: 'not-found' }), 1);

  t.is(moved('crion_container_exits_total', { reason: 'Completed' }), 1);
  // A container removed before it ran is recorded exited too (ContainerStatus and the STOPPED event say so), without an exit code.
  t.is(moved('crion_container_exits_total', { reason: 'Error' }), 3, 'exit 3, the stopped sleeper and the idle container');
  t.is(moved('crion_container_exits_total', { reason: 'OOMKilled' }), 1);
  t.is(moved('crion_container_exits_total', { reason: 'StartError' }), 0);
  t.is(moved('crion_containers_oom_total'), 1);
  t.is(moved('crion_containers_recovered_total'), 0);
  for (const state of ['created', 'running', 'exited', 'unknown']) t.is(after.value('crion_containers', { state }), 0, state);
  t.is(after.value('crion_container_monitors'), 0);
  t.is(after.value('crion_streaming_sessions', { kind: 'exec' }), 0);

  t.true(after.value('crion_process_resident_memory_bytes') > 0);
  t.true(after.value('crion_process_cpu_seconds_total') > 0);
  t.is(after.family('crion_nodejs_eventloop_lag_seconds')?.type, 'gauge');
});

test('a restart counts the containers it found still running under their monitors, and serves the endpoint again', async (t) => {
  const port = await freePort();
  const socketDir = await mkdtemp(path.join(tmpdir(), 'crion-metrics-'));
  t.teardown(() => rm(socketDir, { recursive: true, force: true }));
  const first = await startDaemon(t, { config: metricsConfig(port, path.join(socketDir, 'metrics.sock')) });
  const { podId, podFile } = await runBusyboxPod(first, source, 'restarted');
  const created = await createBusyboxContainer(first, source, podId, podFile, 'survivor', ['sleep', '3600']);
  t.is(created.code, 0, created.stderr);
  await crictlOk(first, ['start', created.stdout.trim()]);
  const exits = await createBusyboxContainer(first, source, podId, podFile, 'gone', ['true']);
  await crictlOk(first, ['start', exits.stdout.trim()]);
  await exitedWith(first, exits.stdout.trim());

  const second = await first.restart('SIGTERM');
  t.teardown(() => second.dispose());
  const scraped = await scrape(port);
  t.is(scraped.value('crion_containers_recovered_total'), 1, 'the running container; the exited one is only a record');
  t.is(scraped.value('crion_containers', { state: 'running' }), 1);
  t.is(scraped.value('crion_containers', { state: 'exited' }), 1);
  t.is(scraped.value('crion_container_monitors'), 1);
  t.is((await scrapeUnix(path.join(socketDir, 'metrics.sock'))).status, 200);
});
