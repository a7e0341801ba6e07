import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import anyTest, { type TestFn } from 'ava';
import { crictl, crictlJson } from '../helpers/crictl.js';
import { startDaemon, startSharedDaemon, type Daemon } from '../helpers/daemon.js';
import { packageVersion } from '../helpers/repo.js';

// These tests only read from the daemon, so one instance serves them all (but the one that needs another config).
const test = anyTest as TestFn<{ daemon: Daemon }>;

test.before(async (t) => {
  t.context.daemon = await startSharedDaemon();
});

test.after.always(async (t) => {
  await t.context.daemon?.dispose();
});

interface Condition {
  type: string;
  status: boolean;
  reason: string;
  message: string;
}

/** `crictl info`: the StatusResponse's status plus each verbose info entry, parsed as JSON when it is an object. */
interface CrictlInfo {
  status: { conditions: Condition[] };
  config?: Record<string, unknown>;
  hostProbe?: Record<string, unknown>;
  [key: string]: unknown;
}

test('crictl version reports crion, API v1 and the package version', async (t) => {
  const result = await crictl(t.context.daemon, ['version']);
  t.is(result.code, 0, result.stderr);
  t.regex(result.stdout, /^RuntimeName: {2}crion$/m);
  t.regex(result.stdout, /^RuntimeApiVersion: {2}v1$/m);
  t.true(result.stdout.split('\n').includes(`RuntimeVersion:  ${packageVersion}`), result.stdout);
});

test('crictl info shows RuntimeReady, and NetworkReady with the default network the daemon wrote', async (t) => {
  const info = await crictlJson<CrictlInfo>(t.context.daemon, ['info']);
  const conditions = info.status.conditions;
  const runtimeReady = conditions.find((c) => c.type === 'RuntimeReady');
  const networkReady = conditions.find((c) => c.type === 'NetworkReady');
  t.is(runtimeReady?.status, true, JSON.stringify(conditions));
  t.like(networkReady, { status: true }, JSON.stringify(conditions));
});

test('without any network config NetworkReady is false with a reason naming the CNI config dir, and pods fail to run', async (t) => {
  const daemon = await startDaemon(t, { args: ['--network-init-default-network', 'false'] });
  const info = await crictlJson<CrictlInfo>(daemon, ['info']);
  const networkReady = info.status.conditions.find((c) => c.type === 'NetworkReady');
  t.like(networkReady, { status: false, reason: 'NetworkPluginNotReady' }, JSON.stringify(info.status.conditions));
  t.true(networkReady?.message.includes(path.join(daemon.dir, 'cni')), networkReady?.message);

  const podFile = path.join(daemon.dir, 'pod.json');
  await writeFile(podFile, JSON.stringify({ metadata: { name: 'no-net', namespace: 'crion-e2e', uid: 'no-net-uid', attempt: 0 } }));
  const runp = await crictl(daemon, ['runp', podFile]);
  t.not(runp.code, 0);
  t.regex(runp.stderr, /FailedPrecondition desc = the pod network is not ready: no valid CNI network config in /);
  const pods = await crictlJson<{ items: unknown[] }>(daemon, ['pods']);
  t.deepEqual(pods.items, [], 'the failed pod left no sandbox behind');
});

test('crictl info includes the effective config and the host probe', async (t) => {
  const info = await crictlJson<CrictlInfo>(t.context.daemon, ['info']);
  // crictl turns an info value that is not a JSON object into a plain string.
  t.is(typeof info.config, 'object', `config: ${JSON.stringify(info.config)}`);
  t.is(typeof info.hostProbe, 'object', `hostProbe: ${JSON.stringify(info.hostProbe)}`);
  // The daemon runs with --log-level debug: effective means flags are applied.
  t.like(info.config, { log: { level: 'debug' } });
  t.regex(JSON.stringify(info.hostProbe), /cgroup/i);
});

test('crictl runtime-config reports the cgroup driver', async (t) => {
  const result = await crictl(t.context.daemon, ['runtime-config']);
  t.is(result.code, 0, result.stderr);
  // Without systemd as init there is nobody to delegate cgroups to, so cgroupfs is the only choice.
  const expected = existsSync('/run/systemd/system') ? /cgroup driver:\s+(CGROUPFS|SYSTEMD)/ : /cgroup driver:\s+CGROUPFS/;
  t.regex(result.stdout, expected);
});
