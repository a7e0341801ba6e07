import test from 'ava';
import { createHash } from 'node:crypto';
import { stat, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import path from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { adminGet } from '../../src/admin/admin-client.js';
import type { ContainerDocument } from '../../src/admin/container-document.js';
import type { InfoDocument } from '../../src/admin/info-document.js';
import type { PodDocument } from '../../src/admin/pod-document.js';
import type { StatusReport } from '../../src/cli/status-report.js';
import { crictl } from '../helpers/crictl.js';
import { createBusyboxContainer, runBusyboxPod } from '../helpers/crictl-pods.js';
import { startDaemon, type Daemon } from '../helpers/daemon.js';
import { sharedImageSource } from '../helpers/image-source.js';
import { run } from '../helpers/process.js';
import { crionBin, packageVersion } from '../helpers/repo.js';

/**
 * `crion status` and `crion inspect` against a real daemon, and the admin
 * socket's `/info` and `/config` they and operators read.
 */

const source = sharedImageSource(test);

function crionAt(daemon: Daemon) {
  return (...args: string[]) => run(process.execPath, [crionBin, ...args, '--listen', daemon.endpoint], { timeoutMs: 30_000 });
}

function adminSocketOf(daemon: Daemon): string {
  return path.join(path.dirname(daemon.socketPath), 'crion-admin.sock');
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('crion status counts what crictl runs; crion inspect shows a container and a pod by ID prefix, and refuses unknown and ambiguous ones', async (t) => {
  const daemon = await startDaemon(t, { config: source.daemonConfig() });
  const crion = crionAt(daemon);
  const status = async (): Promise<{ text: string; json: StatusReport }> => {
    const [text, json] = await Promise.all([crion('status'), crion('status', '--output', 'json')]);
    t.is(text.code, 0, text.stderr);
    t.is(json.code, 0, json.stderr);
    return { text: text.stdout, json: JSON.parse(json.stdout) as StatusReport };
  };

  const before = await status();
  t.like(before.json, { endpoint: daemon.endpoint, pods: { total: 0, ready: 0 }, containers: { total: 0, running: 0 }, images: { total: 0 } });
  t.like(before.json.versions, { crion: packageVersion });
  t.deepEqual(
    before.json.conditions.map(({ type, status }) => [type, status]),
    [
      ['RuntimeReady', true],
      ['NetworkReady', true],
    ],
  );
  t.like(
    before.json.runtimeHandlers.find((handler) => handler.name === 'runc'),
    { default: true, recursiveReadOnlyMounts: true },
  );
  t.regex(before.text, /^pods: +0 \(0 ready\)$/m);
  t.regex(before.text, /^containers: +0 \(0 running\)$/m);
  t.regex(before.text, /^RuntimeReady: +true$/m);
  t.regex(before.text, /^handler runc: +default, \/\S+runc, runc version \d/m);

  const { podId, podFile } = await runBusyboxPod(daemon, source, 'inspected');
  const created = await createBusyboxContainer(daemon, source, podId, podFile, 'sleeper', ['sleep', '3600']);
  t.is(created.code, 0, created.stderr);
  const containerId = created.stdout.trim();
  const started = await crictl(daemon, ['start', containerId]);
  t.is(started.code, 0, started.stderr);

  const after = await status();
  t.like(after.json, { pods: { total: 1, ready: 1 }, containers: { total: 1, running: 1 }, images: { total: 1 } });
  t.true(after.json.images.usedBytes > 0);
  t.regex(after.text, /^pods: +1 \(1 ready\)$/m);
  t.regex(after.text, /^containers: +1 \(1 running\)$/m);
  t.regex(after.text, /^images: +1, \d/m);

  const inspectedContainer = await crion('inspect', containerId.slice(0, 8));
  t.is(inspectedContainer.code, 0, inspectedContainer.stderr);
  const container = JSON.parse(inspectedContainer.stdout) as ContainerDocument;
  t.like(container, {
    kind: 'container',
    id: containerId,
    name: 'sleeper',
    state: 'CONTAINER_RUNNING',
    exitCode: null,
    pod: { id: podId, name: 'inspected', namespace: 'crion-e2e' },
    logPath: path.join(daemon.dir, 'logs', 'inspected', 'sleeper.log'),
  });
  t.true(container.monitorPid > 0 && isAlive(container.monitorPid), `monitor ${container.monitorPid} is not running`);
  t.true(container.pid > 0 && isAlive(container.pid), `container process ${container.pid} is not running`);
  t.true((await stat(path.join(container.bundle, 'config.json'))).isFile());
  t.is(container.rootfs, path.join(container.bundle, 'rootfs'));
  t.true((await stat(container.logPath)).isFile());
  t.is(container.record.id, containerId);

  const inspectedPod = await crion('inspect', podId.slice(0, 8));
  t.is(inspectedPod.code, 0, inspectedPod.stderr);
  const pod = JSON.parse(inspectedPod.stdout) as PodDocument;
  t.like(pod, { kind: 'pod', id: podId, name: 'inspected', namespace: 'crion-e2e', state: 'SANDBOX_READY', containerIds: [containerId] });
  t.true((await stat(pod.netns!)).isFile(), 'the pinned netns is a file');
  t.true(pod.ips.length > 0);

  const unknown = await crion('inspect', 'zzzz');
  t.is(unknown.code, 1);
  t.is(unknown.stderr, 'crion: no pod or container ID starts with "zzzz"\n');

  // IDs are random: more containers until two of the IDs share a first character (17 must).
  const ids = [podId, containerId];
  const shared = (): string | undefined => ids.map((id) => id[0]!).find((first, index, firsts) => firsts.indexOf(first) !== index);
  while (shared() === undefined) {
    const more = await createBusyboxContainer(daemon, source, podId, podFile, `idle-${ids.length}`, ['sleep', '3600']);
    if (more.code !== 0) throw new Error(more.stderr);
    ids.push(more.stdout.trim());
  }
  const prefix = shared()!;
  const ambiguous = await crion('inspect', prefix);
  t.is(ambiguous.code, 1);
  t.regex(ambiguous.stderr, new RegExp(`^crion: "${prefix}" is ambiguous: it starts the IDs of `));
  for (const id of ids.filter((candidate) => candidate.startsWith(prefix))) t.true(ambiguous.stderr.includes(id), ambiguous.stderr);
});

test('/config is the TOML crion config prints, /info describes the daemon, and its config digest follows a SIGHUP reload', async (t) => {
  // The level comes from the file, which a SIGHUP re-reads; a --log-level flag would win over it.
  const daemon = await startDaemon(t, { logLevel: null, config: '[log]\nlevel = "debug"\n' });
  const socket = adminSocketOf(daemon);

  const printed = await run(process.execPath, [crionBin, 'config', ...daemon.args]);
  t.is(printed.code, 0, printed.stderr);
  const served = await adminGet(socket, '/config');
  t.is(served.status, 200);
  t.deepEqual(parseToml(served.body as string), parseToml(printed.stdout));

  const info = (await adminGet(socket, '/info')).body as InfoDocument;
  t.is(info.configDigest, `sha256:${createHash('sha256').update(printed.stdout).digest('hex')}`);
  t.like(info, {
    versions: { crion: packageVersion, node: process.version },
    root: path.join(daemon.dir, 'root'),
    state: path.join(daemon.dir, 'state'),
    listen: daemon.endpoint,
    network: { ready: true, message: '' },
  });
  t.regex(info.versions.criApi, /^k8s\.io\/cri-api v\d/);
  t.is(info.network.defaultNetwork?.file, path.join(daemon.dir, 'cni', '99-crion-bridge.conflist'));
  t.regex(info.runtimeHandlers.find((handler) => handler.default)?.version ?? '', /^runc version /);

  await writeFile(daemon.configPath, '[log]\nlevel = "info"\n');
  daemon.signal('SIGHUP');
  await daemon.waitForLog((line) => line.msg === 'config reloaded', 10_000, '"config reloaded" line');
  const reloaded = (await adminGet(socket, '/info')).body as InfoDocument;
  t.not(reloaded.configDigest, info.configDigest);
  t.regex((await adminGet(socket, '/config')).body as string, /^level = "info"$/m);

  const post = await new Promise<number>((resolve, reject) => {
    const call = request({ socketPath: socket, path: '/info', method: 'POST' }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    call.on('error', reject);
    call.end();
  });
  t.is(post, 405);
  t.is((await adminGet(socket, '/nosuch')).status, 404);
});

test('crion status and crion inspect without a daemon say that it cannot be reached, and fail', async (t) => {
  const listen = 'unix:///nonexistent/crion.sock';
  const status = await run(process.execPath, [crionBin, 'status', '--listen', listen]);
  t.is(status.code, 1);
  t.is(status.stderr, `crion: cannot reach the crion daemon at ${listen}: no socket there (ENOENT); is the daemon running?\n`);
  const inspect = await run(process.execPath, [crionBin, 'inspect', 'abc', '--listen', listen]);
  t.is(inspect.code, 1);
  t.is(
    inspect.stderr,
    'crion: cannot reach the crion daemon at unix:///nonexistent/crion-admin.sock: no socket there (ENOENT); is the daemon running?\n',
  );
});
