import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { crictl, crictlJson } from '../helpers/crictl.js';
import { listRuncContainersBelow, startDaemon, type Daemon } from '../helpers/daemon.js';
import { run } from '../helpers/process.js';
import { sharedImageSource } from '../helpers/image-source.js';
import { defaultConfig } from '../../src/config/index.js';

/**
 * RuntimeClass handlers through crictl: a pod run with a configured handler
 * has its containers created by that handler's runtime and state root, the
 * handlers are listed in Status, and a handler that is unknown or whose
 * runtime is not installed fails RunPodSandbox saying so.
 */

const source = sharedImageSource(test);

/** A second handler that is runc under another state root, so what it created can be told apart. */
async function handlerDaemon(t: Parameters<typeof startDaemon>[0]): Promise<{ daemon: Daemon; altRoot: string }> {
  const altRoot = await mkdtemp(path.join(tmpdir(), 'crion-runc-alt-'));
  const daemon = await startDaemon(t, {
    config: source.daemonConfig(
      '[runtime.handlers.runc-alt]',
      'path = "runc"',
      `root = "${altRoot}"`,
      '[runtime.handlers.missing]',
      'path = "/nonexistent/bin/no-such-runtime"',
      `root = "${altRoot}-missing"`,
    ),
  });
  // Registered after startDaemon, so it runs first: the pods go while the daemon still serves.
  t.teardown(async () => {
    await crictl(daemon, ['rmp', '--all', '--force']);
    const left = await run('runc', ['--root', altRoot, 'list', '-q']);
    for (const id of left.stdout.split('\n').filter(Boolean)) await run('runc', ['--root', altRoot, 'delete', '-f', id]);
    await rm(altRoot, { recursive: true, force: true });
  });
  const pull = await crictl(daemon, ['pull', source.images.busybox.reference]);
  if (pull.code !== 0) throw new Error(pull.stderr);
  return { daemon, altRoot };
}

/** Where `command -v` finds `program` on this process's PATH, which the test daemon inherits; null when it is not installed. */
async function onPath(program: string): Promise<string | null> {
  const result = await run('sh', ['-c', 'command -v "$1"', 'sh', program]);
  return result.code === 0 ? result.stdout.trim() : null;
}

async function writeJson(daemon: Daemon, name: string, value: unknown): Promise<string> {
  const file = path.join(daemon.dir, name);
  await writeFile(file, JSON.stringify(value));
  return file;
}

function podConfig(daemon: Daemon, name: string) {
  return {
    metadata: { name, namespace: 'crion-e2e-handlers', uid: `${name}-uid`, attempt: 0 },
    log_directory: path.join(daemon.dir, 'logs', name),
    linux: { security_context: { namespace_options: { pid: 1 } } },
  };
}

test('a pod run with another handler has its containers made by that runtime under its root', async (t) => {
  const { daemon, altRoot } = await handlerDaemon(t);
  const info = await crictlJson<{ runtimeHandlers: Array<{ name?: string }>; ociRuntimes: Record<string, { binary: string | null }> }>(daemon, [
    'info',
  ]);
  // Status lists the handlers a RuntimeClass can use here: "" (the default, runc) and every configured handler whose
  // runtime is installed, which for the built-in crun and runsc depends on the host. The verbose info says how each
  // resolved: to the program the shell finds on the PATH the daemon inherited, or to null.
  const installed: string[] = [];
  for (const name of Object.keys(defaultConfig().runtime.handlers)) {
    // Each built-in handler runs the program it is named after.
    const found = await onPath(name);
    t.is(info.ociRuntimes[name]?.binary, found, `the ${name} handler resolves as the shell finds ${name}`);
    if (found !== null) installed.push(name);
  }
  t.deepEqual(info.runtimeHandlers.map((handler) => handler.name ?? '').sort(), ['', 'runc-alt', ...installed].sort());
  t.is(info.ociRuntimes.missing?.binary, null);
  t.is(info.ociRuntimes['runc-alt']?.binary, info.ociRuntimes.runc?.binary);

  const podFile = await writeJson(daemon, 'alt-pod.json', podConfig(daemon, 'alt'));
  const pod = await crictl(daemon, ['runp', '--runtime', 'runc-alt', podFile]);
  t.is(pod.code, 0, pod.stderr);
  const podId = pod.stdout.trim();
  const status = await crictlJson<{ status: { runtimeHandler: string } }>(daemon, ['inspectp', podId]);
  t.is(status.status.runtimeHandler, 'runc-alt');

  const containerFile = await writeJson(daemon, 'alt-container.json', {
    metadata: { name: 'sleeper' },
    image: { image: source.images.busybox.reference },
    command: ['sleep', '300'],
    log_path: 'sleeper.log',
    linux: { security_context: { namespace_options: { pid: 1 } } },
  });
  const created = await crictl(daemon, ['create', podId, containerFile, podFile]);
  t.is(created.code, 0, created.stderr);
  const containerId = created.stdout.trim();
  t.is((await crictl(daemon, ['start', containerId])).code, 0);

  const alt = await run('runc', ['--root', altRoot, 'list', '-q']);
  t.true(alt.stdout.split('\n').includes(containerId), `runc --root ${altRoot} list: ${alt.stdout}`);
  const standard = await listRuncContainersBelow(daemon.dir);
  t.false(
    standard.some((container) => container.id === containerId),
    'not under the default handler root',
  );
  const exec = await crictl(daemon, ['exec', '-s', containerId, 'echo', 'through-runc-alt']);
  t.is(exec.stdout.trim(), 'through-runc-alt', exec.stderr);

  t.is((await crictl(daemon, ['rmp', '--force', podId])).code, 0);
  t.false((await run('runc', ['--root', altRoot, 'list', '-q'])).stdout.includes(containerId), 'removed through the same handler');
});

test('an unknown handler is NOT_FOUND, one whose runtime is not installed fails naming it, and neither leaves a pod', async (t) => {
  const { daemon } = await handlerDaemon(t);
  const podFile = await writeJson(daemon, 'pod.json', podConfig(daemon, 'nowhere'));
  const unknown = await crictl(daemon, ['runp', '--runtime', 'kata', podFile]);
  t.not(unknown.code, 0);
  t.regex(unknown.stderr, /NotFound desc = runtime handler .*kata.* is not configured/);

  const missing = await crictl(daemon, ['runp', '--runtime', 'missing', podFile]);
  t.not(missing.code, 0);
  t.regex(missing.stderr, /no-such-runtime/);
  const pods = await crictlJson<{ items: unknown[] }>(daemon, ['pods']);
  t.deepEqual(pods.items, []);
});
