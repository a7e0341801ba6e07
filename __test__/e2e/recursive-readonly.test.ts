import test, { type ExecutionContext } from 'ava';
import * as grpc from '@grpc/grpc-js';
import { access, chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  call,
  containerConfig,
  createContainer,
  expectCode,
  podConfig,
  runPod,
  setUp,
  snapshot,
  useHarness,
  type Setup,
} from '../helpers/leak-harness.js';
import { run } from '../helpers/process.js';

/**
 * Recursive read-only mounts (KEP-3857) over gRPC on real runc: a hostPath
 * with a tmpfs mounted inside it, bound read-only recursively, has that
 * submount read-only in the container too, where a plain read-only bind
 * leaves it writable. A handler whose runtime lacks `rro` says so in Status
 * and refuses the request before anything is made. The host is compared
 * before and after.
 */

useHarness(test);

interface StatusResponse {
  runtimeHandlers: Array<{ name: string; features: { recursiveReadOnlyMounts: boolean; userNamespaces: boolean } | null }>;
}

interface ExecResponse {
  stdout: Buffer;
  stderr: Buffer;
  exitCode: number;
}

/** A host directory with a tmpfs mounted on its `tmpfs` subdirectory, as critest makes it; unmounted and removed after the test. */
async function hostPathWithSubmount(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'crion-rro-'));
  await mkdir(path.join(dir, 'tmpfs'));
  const mounted = await run('mount', ['-t', 'tmpfs', 'none', path.join(dir, 'tmpfs')]);
  if (mounted.code !== 0) throw new Error(`mount tmpfs: ${mounted.stderr}`);
  t.teardown(async () => {
    await run('umount', ['-l', path.join(dir, 'tmpfs')]);
    await rm(dir, { recursive: true, force: true });
  });
  return dir;
}

async function exec(setup: Setup, containerId: string, command: string): Promise<{ code: number; output: string }> {
  const response = await call<ExecResponse>(setup.runtime, 'ExecSync', { containerId, cmd: ['sh', '-c', command], timeout: 30 });
  return { code: response.exitCode, output: `${response.stdout.toString()}${response.stderr.toString()}` };
}

/** The mount options the container's own mountinfo shows for `mountPoint` (field 6: per-mount options). */
async function mountOptionsInside(setup: Setup, containerId: string, mountPoint: string): Promise<string[]> {
  const { output } = await exec(setup, containerId, 'cat /proc/self/mountinfo');
  const line = output.split('\n').find((entry) => entry.split(' ')[4] === mountPoint);
  if (line === undefined) throw new Error(`${mountPoint} is not a mount point in the container:\n${output}`);
  return line.split(' ')[5]!.split(',');
}

function handlerFeatures(status: StatusResponse, name: string): boolean | undefined {
  return status.runtimeHandlers.find((handler) => handler.name === name)?.features?.recursiveReadOnlyMounts;
}

test('a recursive read-only bind makes its tmpfs submount read-only (EROFS); a plain read-only bind leaves it writable', async (t) => {
  const setup = await setUp(t);
  const status = await call<StatusResponse>(setup.runtime, 'Status', {});
  t.true(handlerFeatures(status, ''), 'the default handler (runc 1.1 on Linux 5.12+) reports recursive read-only mounts');
  t.true(handlerFeatures(status, 'runc'));

  const hostPath = await hostPathWithSubmount(t);
  const before = await snapshot(setup);
  const pod = podConfig(setup, 'rro', { sharedPid: false, cgroupParent: '' });
  const podId = await runPod(setup, pod);
  const withMount = async (name: string, recursiveReadOnly: boolean): Promise<string> => {
    const mounts = [{ hostPath, containerPath: '/mnt', readonly: true, recursiveReadOnly }];
    const id = await createContainer(setup, podId, pod, containerConfig(name, ['sleep', '3600'], { mounts }));
    await call(setup.runtime, 'StartContainer', { containerId: id });
    return id;
  };
  const recursive = await withMount('recursive', true);
  const plain = await withMount('plain', false);

  const written = await exec(setup, recursive, 'touch /mnt/tmpfs/from-recursive');
  t.not(written.code, 0);
  t.regex(written.output, /Read-only file system/, 'the submount is read-only too');
  t.deepEqual((await mountOptionsInside(setup, recursive, '/mnt/tmpfs'))[0], 'ro');
  await t.throwsAsync(access(path.join(hostPath, 'tmpfs', 'from-recursive')), { code: 'ENOENT' });

  const plainWrite = await exec(setup, plain, 'touch /mnt/tmpfs/from-plain');
  t.is(plainWrite.code, 0, `without recursive_read_only the submount stays writable: ${plainWrite.output}`);
  await t.notThrowsAsync(access(path.join(hostPath, 'tmpfs', 'from-plain')), 'the write reached the host tmpfs');
  t.deepEqual((await mountOptionsInside(setup, plain, '/mnt/tmpfs'))[0], 'rw');
  for (const id of [recursive, plain]) {
    const top = await exec(setup, id, 'touch /mnt/top');
    t.regex(top.output, /Read-only file system/, 'the bind itself is read-only either way');
  }

  const spec = JSON.parse(
    (await call<{ info: Record<string, string> }>(setup.runtime, 'ContainerStatus', { containerId: recursive, verbose: true })).info.info!,
  ) as { runtimeSpec: { mounts: Array<{ destination: string; options: string[] }> } };
  t.deepEqual(
    spec.runtimeSpec.mounts.find((mount) => mount.destination === '/mnt')?.options,
    ['rbind', 'rprivate', 'rro'],
    'runc is asked for rro in place of ro',
  );

  await call(setup.runtime, 'RemovePodSandbox', { podSandboxId: podId });
  t.deepEqual(await snapshot(setup), before, 'the pod and its containers leave nothing behind');
});

/** runc, but for a `features` that leaves rro out: a runtime older than runc 1.1 as far as crion can tell. */
async function runcWithoutRro(t: ExecutionContext): Promise<{ binary: string; root: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'crion-norro-'));
  const binary = path.join(dir, 'runc-without-rro');
  const root = path.join(dir, 'root');
  const features = JSON.parse((await run('runc', ['features'])).stdout) as { mountOptions: string[] };
  t.true(features.mountOptions.includes('rro'), "the host's runc lists rro");
  const trimmed = JSON.stringify({ ...features, mountOptions: features.mountOptions.filter((option) => option !== 'rro') });
  await writeFile(path.join(dir, 'features.json'), trimmed);
  await writeFile(binary, `#!/bin/sh\nif [ "$1" = features ]; then exec cat '${path.join(dir, 'features.json')}'; fi\nexec runc "$@"\n`);
  await chmod(binary, 0o755);
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return { binary, root };
}

test('a handler whose runtime lacks rro reports it false and refuses a recursive read-only mount before making anything', async (t) => {
  const norro = await runcWithoutRro(t);
  const setup = await setUp(t, undefined, ['[runtime.handlers.norro]', `path = "${norro.binary}"`, `root = "${norro.root}"`]);
  const status = await call<StatusResponse>(setup.runtime, 'Status', { verbose: true });
  t.false(handlerFeatures(status, 'norro'));
  t.true(handlerFeatures(status, ''));

  const hostPath = await hostPathWithSubmount(t);
  const pod = podConfig(setup, 'norro', { sharedPid: false, cgroupParent: '' });
  const podId = await runPod(setup, pod, 'norro');
  const before = await snapshot(setup);
  const mounts = [{ hostPath, containerPath: '/mnt', readonly: true, recursiveReadOnly: true }];
  await expectCode(
    t,
    call(setup.runtime, 'CreateContainer', {
      podSandboxId: podId,
      config: containerConfig('refused', ['sleep', '3600'], { mounts }),
      sandboxConfig: pod,
    }),
    grpc.status.FAILED_PRECONDITION,
    /mounts\[0\]\.recursive_read_only: runtime handler "norro" cannot make mounts read-only recursively: `.*runc-without-rro features` does not list the rro mount option/,
  );
  t.deepEqual(await snapshot(setup), before, 'the refusal left nothing behind');

  // The same handler still runs a plain read-only bind: only the recursive request needs the feature.
  const plain = await createContainer(
    setup,
    podId,
    pod,
    containerConfig('plain', ['sleep', '3600'], { mounts: [{ hostPath, containerPath: '/mnt', readonly: true }] }),
  );
  await call(setup.runtime, 'StartContainer', { containerId: plain });
  t.is((await exec(setup, plain, 'touch /mnt/tmpfs/ok')).code, 0);
  t.is(await readFile(path.join(hostPath, 'tmpfs', 'ok'), 'utf8'), '');
});
