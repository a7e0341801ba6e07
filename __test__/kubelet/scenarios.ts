/**
 * What a real kubelet does to a node's runtime, run the same way on crion
 * and on containerd (the control): each file calls kubeletScenarios once.
 * Every check goes through the kubelet's own API (`/pods`,
 * `/stats/summary`) and through crictl against the runtime. The serial
 * tests (cleanup and restarts) run first, on a quiet node, since they
 * compare the whole node before and after; the rest run side by side.
 */

import type { ExecutionContext, TestFn } from 'ava';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { gunzipSync } from 'node:zlib';
import { DEFAULT_NETWORK_NAME } from '../../src/network/default-network.js';
import { snapshotHost, type HostSnapshot } from '../helpers/host-snapshot.js';
import { startImageSource, type ImageSource } from '../helpers/image-source.js';
import { allReady, staticPod as staticPodIn, type KubeContainerStatus, type KubePod, type StatsSummary } from '../helpers/kubelet.js';
import { KubeletNode, type RuntimeName } from '../helpers/kubelet-node.js';
import { KubeStreamClient } from '../helpers/kube-stream-client.js';
import { run } from '../helpers/process.js';
import { SpdyTunnel } from '../helpers/spdy-tunnel-client.js';

const NAMESPACE = 'kubelet-e2e';
/** The remote command channels of the Kubernetes WebSocket protocols. */
const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const ERROR = 3;
/** What the `streams` pod's web container serves, through port forward. */
const WEB_BODY = 'served through the kubelet port forward';
/** What `/proc/<pid>/cgroup` and the hierarchies say about a container's limits. */
interface CgroupLimits {
  memoryBytes: number | null;
  cpuQuota: number | null;
  cpuPeriod: number | null;
}

export function kubeletScenarios(test: TestFn, runtimeName: RuntimeName): void {
  let source: ImageSource | undefined;
  let started: KubeletNode | undefined;
  // One hook: ava runs the before hooks of a file side by side.
  test.before(async () => {
    // The critest stand-ins bring the pause image a runtime's sandbox needs.
    source = await startImageSource({ critestImages: true });
    started = await KubeletNode.start(runtimeName, source);
    // Images present, so the cleanup test does not count stores a first pull opens as left behind.
    await started.pullImages(source);
  });
  test.after.always(async () => {
    await started?.dispose();
    await source?.dispose();
  });
  const node = (): KubeletNode => started!;
  const image = (): string => source!.images.busybox.reference;

  /** A static pod in the e2e namespace; the manifest's name is the pod's, before the kubelet appends the node's. */
  const staticPod = (name: string, spec: Record<string, unknown>) => staticPodIn(name, NAMESPACE, spec);
  const container = (name: string, script: string, extra: Record<string, unknown> = {}) => ({
    name,
    image: image(),
    command: ['sh', '-c', script],
    ...extra,
  });
  const podName = (manifest: string): string => `${manifest}-${node().kubelet.options.nodeName}`;

  /** Writes the manifest, removes it when the test ends, and waits until every container is ready. */
  async function runPod(t: ExecutionContext, name: string, spec: Record<string, unknown>, timeoutMs = 60_000): Promise<KubePod> {
    await node().kubelet.writeManifest(name, staticPod(name, spec));
    t.teardown(() =>
      node()
        .kubelet.removeManifest(name)
        .catch(() => undefined),
    );
    return node().kubelet.waitForPod(name, allReady, timeoutMs, 'ready');
  }

  async function inspect(id: string): Promise<InspectedContainer> {
    return node().json<InspectedContainer>(['inspect', id]);
  }

  /** What a restart of the runtime or the kubelet must leave exactly as it was. */
  async function observe(manifest: string) {
    const pod = await node().kubelet.pod(manifest);
    const statuses = (pod?.status.containerStatuses ?? []).map((status) => ({
      name: status.name,
      containerID: status.containerID,
      restartCount: status.restartCount,
      running: status.state.running !== undefined,
    }));
    const containers = (await node().containersOf(podName(manifest))).map((c) => ({
      id: c.id,
      name: c.metadata.name,
      attempt: c.metadata.attempt,
      state: c.state,
    }));
    const sandboxes = (await node().sandboxesOf(podName(manifest))).map((s) => `${s.id} ${s.state}`);
    return { statuses, containers, sandboxes };
  }

  const steadySpec = () => ({
    containers: [
      container('web', 'mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www', {
        readinessProbe: { httpGet: { path: '/index.html', port: 8080 }, periodSeconds: 2 },
        livenessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 3 },
      }),
      container('worker', 'touch /tmp/healthy; exec sleep 3600', {
        livenessProbe: { exec: { command: ['cat', '/tmp/healthy'] }, periodSeconds: 3 },
      }),
    ],
  });

  test.serial('deleting a manifest removes its pod, containers, mounts, network and cgroups', async (t) => {
    t.timeout(240_000);
    const { runtime, kubelet } = node();
    const scope = (ids: ReadonlySet<string>) => ({
      dir: runtime.dir,
      daemonPids: runtime.daemonPids,
      cgroupParents: [],
      sharedCgroupParents: [runtime.defaultCgroupParent],
      bridge: runtime.bridge,
      ids,
      networkNames: [DEFAULT_NETWORK_NAME],
      runcRoot: runtime.runcRoot,
    });
    const before = await snapshotHost(scope(new Set()));
    const hostDir = path.join(node().dir, 'cleanup-host');
    await mkdir(hostDir, { recursive: true });
    const pod = await runPod(t, 'cleanup', {
      volumes: [
        { name: 'scratch', emptyDir: {} },
        { name: 'host', hostPath: { path: hostDir, type: 'Directory' } },
      ],
      initContainers: [container('init', 'echo ready > /scratch/state', { volumeMounts: [{ name: 'scratch', mountPath: '/scratch' }] })],
      containers: [
        container('app', 'cat /scratch/state; exec sleep 3600', {
          volumeMounts: [
            { name: 'scratch', mountPath: '/scratch' },
            { name: 'host', mountPath: '/host' },
          ],
          resources: { limits: { cpu: '100m', memory: '32Mi' } },
        }),
        container('sidecar', 'exec sleep 3600'),
      ],
    });
    const ids = new Set([
      ...(await node().sandboxesOf(podName('cleanup'))).map((sandbox) => sandbox.id),
      ...(await node().containersOf(podName('cleanup'))).map((c) => c.id),
    ]);
    t.is(ids.size, 4, 'a sandbox, the init container and two app containers');
    // The running pod shows in each part of the snapshot that must come back to where it was.
    const running = await snapshotHost(scope(ids));
    for (const part of ['mounts', 'cgroups', 'processes', 'runcContainers', 'bridgePorts', 'iptables'] as const) {
      t.true(running[part].length > before[part].length, `the running pod's ${part}`);
    }

    await kubelet.removeManifest('cleanup');
    // The kubelet stops the pod at once; its container and sandbox GC removes them within a minute or so.
    await poll(
      async () => (await node().sandboxesOf(podName('cleanup'))).length === 0 && (await node().containersOf(podName('cleanup'))).length === 0,
      180_000,
      'the kubelet to remove the sandbox and containers',
    );
    const podDir = path.join(kubelet.rootDir, 'pods', pod.metadata.uid);
    const logDir = path.join(kubelet.podLogsDir, `${NAMESPACE}_${pod.metadata.name}_${pod.metadata.uid}`);
    await poll(async () => !existsSync(podDir) && !existsSync(logDir), 60_000, "the kubelet to remove the pod's dir and logs");
    const after = await pollSnapshot(() => snapshotHost(scope(ids)), before);
    t.deepEqual(after, before);
  });

  test.serial(`${runtimeName} restarted with SIGTERM under a running kubelet: no container restarts`, async (t) => {
    t.timeout(120_000);
    await runPod(t, 'steady', steadySpec());
    await restartKeepsPods(t, 'steady', () => node().runtime.restart('SIGTERM'));
  });

  test.serial(`${runtimeName} killed with SIGKILL and started again under a running kubelet: no container restarts`, async (t) => {
    t.timeout(120_000);
    await runPod(t, 'steady-kill', steadySpec());
    await restartKeepsPods(t, 'steady-kill', () => node().runtime.restart('SIGKILL'));
  });

  test.serial('the kubelet restarted: no container restarts', async (t) => {
    t.timeout(120_000);
    await runPod(t, 'steady-kubelet', steadySpec());
    await restartKeepsPods(t, 'steady-kubelet', () => node().kubelet.restart());
  });

  test.serial("with PodAndContainerStatsFromCRI the kubelet's /metrics/cadvisor serves the runtime's ListPodSandboxMetrics", async (t) => {
    t.timeout(180_000);
    const manifest = 'metrics';
    await runPod(t, manifest, {
      containers: [
        container('burner', 'dd if=/dev/zero of=/dev/shm/fill bs=1M count=16 && while :; do :; done', {
          resources: { limits: { cpu: '500m', memory: '128Mi' } },
        }),
      ],
    });
    const [burner] = (await node().containersOf(podName(manifest))).filter((entry) => entry.state === 'CONTAINER_RUNNING');
    t.truthy(burner);
    // The gate changes where the kubelet's stats come from, so only this scenario runs with it; the node gets its own gates back after.
    await node().kubelet.restartWithFeatureGates({ PodAndContainerStatsFromCRI: true });
    t.teardown(() => node().kubelet.restartWithFeatureGates({}));
    const samplesOf = (text: string, name: string) =>
      prometheusSamples(text).filter((sample) => sample.name === name && sample.labels.container === 'burner');

    if (runtimeName === 'containerd') {
      // containerd 1.6 predates the metrics RPCs: the kubelet logs the refusal of ListMetricDescriptors once at start,
      // and /metrics/cadvisor has no container series at all, not the cAdvisor ones either (the gate turns those off).
      await sleep(3_000);
      for (let scrape = 0; scrape < 3; scrape += 1) {
        const text = await node().kubelet.text('/metrics/cadvisor');
        t.deepEqual(
          prometheusSamples(text).filter((sample) => sample.name.startsWith('container_')),
          [],
        );
        t.regex(text, /^machine_cpu_cores/m, 'the machine collector still answers');
      }
      const metricsLines = (await node().kubelet.log())
        .split('\n')
        .filter((line) => /MetricDescriptors|pod metrics|PodSandboxMetrics/.test(line))
        .join('\n');
      t.regex(metricsLines, /Error reading MetricDescriptors.*Unimplemented desc = unknown method ListMetricDescriptors/);
      // A collector that described nothing is never registered: the scrapes never ask for the pods' metrics.
      t.notRegex(metricsLines, /PodSandboxMetrics|Failed to get pod metrics/);
      return;
    }

    let text = '';
    await poll(
      async () => {
        text = await node().kubelet.text('/metrics/cadvisor');
        const cpu = samplesOf(text, 'container_cpu_usage_seconds_total')[0];
        const memory = samplesOf(text, 'container_memory_working_set_bytes')[0];
        return (cpu?.value ?? 0) >= 1 && (memory?.value ?? 0) >= 16 * 1024 * 1024;
      },
      90_000,
      "the burner's CPU seconds and its 16 MiB working set on /metrics/cadvisor",
      () =>
        text
          .split('\n')
          .filter((line) => line.includes('burner'))
          .join('\n') || text.slice(0, 2000),
    );
    const cpu = samplesOf(text, 'container_cpu_usage_seconds_total')[0]!;
    t.deepEqual(cpu.labels, { id: burner!.id, image: image(), namespace: NAMESPACE, pod: podName(manifest), container: 'burner', cpu: 'total' });
    t.is(samplesOf(text, 'container_spec_memory_limit_bytes')[0]?.value, 128 * 1024 * 1024);
    t.is(samplesOf(text, 'container_spec_cpu_quota')[0]?.value, 50_000);
    // The pod's network comes at pod level, labelled as the cAdvisor path labels the pod's infra.
    const network = prometheusSamples(text).filter(
      (sample) => sample.name === 'container_network_receive_bytes_total' && sample.labels.pod === podName(manifest),
    );
    t.deepEqual(
      network.map((sample) => [sample.labels.container, sample.labels.interface]),
      [['POD', 'eth0']],
    );
    // Counters grow between scrapes.
    await sleep(3_000);
    const later = samplesOf(await node().kubelet.text('/metrics/cadvisor'), 'container_cpu_usage_seconds_total')[0];
    t.true((later?.value ?? 0) > cpu.value, `${cpu.value} → ${later?.value}`);
    t.regex(node().runtime.output(), /"rpc":"ListMetricDescriptors".*"outcome":"ok"/);
    // With CRIListStreaming (on for every scenario) the kubelet takes the metrics through the stream twin.
    t.regex(node().runtime.output(), /"rpc":"StreamPodSandboxMetrics".*"outcome":"ok"/);
    t.notRegex(await node().kubelet.log(), /Error reading MetricDescriptors|Failed to get pod metrics/);
    // The restart under the gate restarted nothing.
    const [status] = statusesOf((await node().kubelet.pod(manifest))!);
    t.is(status?.restartCount, 0);
  });

  /** Restarts something under a ready pod and checks nothing about its containers changed, a while later too. */
  async function restartKeepsPods(t: ExecutionContext, manifest: string, restart: () => Promise<void>): Promise<void> {
    // A few probe periods first, so the pod is steady before the restart.
    await sleep(4_000);
    const before = await observe(manifest);
    t.true(
      before.statuses.every((status) => status.running && status.restartCount === 0),
      JSON.stringify(before),
    );
    await restart();
    // Long enough for several relists, probe rounds and pod syncs, which would restart a container they thought gone.
    await sleep(12_000);
    await node().kubelet.waitForPod(manifest, allReady, 30_000, 'ready again');
    t.deepEqual(await observe(manifest), before);
  }

  test('readiness httpGet, liveness exec and tcpSocket probes keep a healthy pod ready and unrestarted', async (t) => {
    const pod = await runPod(t, 'probes', steadySpec());
    t.true(allReady(pod));
    // Enough rounds of every probe to have restarted a container that failed one.
    await sleep(10_000);
    const later = (await node().kubelet.pod('probes'))!;
    t.true(allReady(later), JSON.stringify(later.status));
    t.deepEqual(
      statusesOf(later).map((status) => status.restartCount),
      [0, 0],
    );
    const containers = await node().containersOf(podName('probes'));
    t.deepEqual(containers.map((c) => [c.metadata.name, c.metadata.attempt, c.state]).sort(), [
      ['web', 0, 'CONTAINER_RUNNING'],
      ['worker', 0, 'CONTAINER_RUNNING'],
    ]);
  });

  test('a failing liveness probe restarts its container', async (t) => {
    t.timeout(120_000);
    await node().kubelet.writeManifest(
      'liveness-fail',
      staticPod('liveness-fail', {
        containers: [
          container('app', 'exec sleep 3600', {
            livenessProbe: { exec: { command: ['cat', '/tmp/missing'] }, initialDelaySeconds: 1, periodSeconds: 1, failureThreshold: 1 },
          }),
        ],
      }),
    );
    t.teardown(() =>
      node()
        .kubelet.removeManifest('liveness-fail')
        .catch(() => undefined),
    );
    const pod = await node().kubelet.waitForPod('liveness-fail', (p) => (statusesOf(p)[0]?.restartCount ?? 0) >= 1, 90_000, 'restarted');
    // sleep as PID 1 ignores SIGTERM, so the kill comes at the end of the grace period.
    t.is(statusesOf(pod)[0]!.lastState?.terminated?.exitCode, 137);
    const containers = await node().containersOf(podName('liveness-fail'));
    t.true(containers.length >= 2, JSON.stringify(containers));
    t.like(containers[0], { metadata: { name: 'app', attempt: 0 }, state: 'CONTAINER_EXITED' });
    t.is((await inspect(containers[0]!.id)).status.exitCode, 137);
    t.is(containers[1]!.metadata.attempt, 1);
  });

  test('a crashing container is restarted with a growing back-off and a rising restart count', async (t) => {
    t.timeout(180_000);
    await node().kubelet.writeManifest('crashloop', staticPod('crashloop', { containers: [container('app', 'echo crash; exit 3')] }));
    t.teardown(() =>
      node()
        .kubelet.removeManifest('crashloop')
        .catch(() => undefined),
    );
    // When each restart count was first seen.
    const seenAt = new Map<number, number>();
    const pod = await node().kubelet.waitForPod(
      'crashloop',
      (p) => {
        const status = statusesOf(p)[0];
        if (status === undefined) return false;
        if (!seenAt.has(status.restartCount)) seenAt.set(status.restartCount, Date.now());
        return status.restartCount >= 3;
      },
      150_000,
      'restarted three times',
    );
    const status = statusesOf(pod)[0]!;
    t.is(status.lastState?.terminated?.exitCode, 3);
    // The CrashLoopBackOff waiting state shows in /pods only between two of the kubelet's syncs, which
    // a poll can miss on a busy host; the kubelet's log of each sync it skipped for the back-off cannot.
    const kubeletLog = await node().kubelet.log();
    for (const backOff of ['10s', '20s']) {
      t.regex(kubeletLog, new RegExp(`CrashLoopBackOff: \\\\?"back-off ${backOff} restarting failed container=app pod=crashloop-`));
    }
    // The first restart comes at once; then the kubelet waits 10 s, then 20 s, … before each new attempt.
    const gap = (from: number) => seenAt.get(from + 1)! - seenAt.get(from)!;
    t.true(gap(1) >= 8_000, `first back-off ${gap(1)} ms`);
    t.true(gap(2) > gap(1) * 1.4, `back-offs of ${gap(1)} ms, then ${gap(2)} ms`);
    // The kubelet's container GC keeps the newest dead attempt or two; the runtime numbers them as the kubelet counts.
    const attempts = await node().containersOf(podName('crashloop'));
    const newest = attempts[attempts.length - 1]!;
    t.true(newest.metadata.attempt >= 3, JSON.stringify(attempts.map((c) => c.metadata)));
    if (runtimeName === 'crion') {
      // The operator's log names each exit by the kubelet's pod name and namespace, attempt by attempt.
      const exits = node()
        .runtime.output()
        .split('\n')
        .filter((line) => line.includes('"msg":"container exited"') && line.includes(`"pod":"${podName('crashloop')}"`))
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      t.true(exits.length >= 3, `${exits.length} exits logged`);
      t.like(exits[0], { level: 'info', namespace: NAMESPACE, container: 'app', attempt: 0, exitCode: 3, reason: 'Error' });
      t.deepEqual(
        exits.slice(0, 3).map((exit) => exit.attempt),
        [0, 1, 2],
      );
    }
    let inspected = 0;
    for (const attempt of attempts.filter((c) => c.state === 'CONTAINER_EXITED')) {
      const result = await node().run(['inspect', attempt.id]);
      // The kubelet's container GC may remove an old attempt between the list and the inspect.
      if (result.code !== 0 && /code = NotFound/.test(result.stderr)) continue;
      t.is(result.code, 0, result.stderr);
      t.is((JSON.parse(result.stdout) as InspectedContainer).status.exitCode, 3);
      inspected += 1;
    }
    t.true(inspected > 0, 'an exited attempt was left to inspect');
  });

  test('init containers run in order before the app, through an emptyDir and a hostPath volume', async (t) => {
    const hostDir = path.join(node().dir, 'init-host');
    await mkdir(hostDir, { recursive: true });
    const mounts = [
      { name: 'work', mountPath: '/work' },
      { name: 'host', mountPath: '/host' },
    ];
    const pod = await runPod(t, 'init', {
      volumes: [
        { name: 'work', emptyDir: {} },
        { name: 'host', hostPath: { path: hostDir, type: 'Directory' } },
      ],
      initContainers: [
        container('first', 'echo first > /work/order', { volumeMounts: mounts }),
        container('second', 'cp /work/order /host/after-first; echo second >> /work/order', { volumeMounts: mounts }),
      ],
      containers: [container('app', 'cp /work/order /host/app-saw; exec sleep 3600', { volumeMounts: mounts })],
    });
    t.deepEqual(
      (pod.status.initContainerStatuses ?? []).map((status) => [status.name, status.state.terminated?.exitCode, status.state.terminated?.reason]),
      [
        ['first', 0, 'Completed'],
        ['second', 0, 'Completed'],
      ],
    );
    await poll(async () => existsSync(path.join(hostDir, 'app-saw')), 10_000, 'the app to copy what the init containers wrote');
    t.is(await readFile(path.join(hostDir, 'after-first'), 'utf8'), 'first\n');
    t.is(await readFile(path.join(hostDir, 'app-saw'), 'utf8'), 'first\nsecond\n');
    const containers = await node().containersOf(podName('init'));
    const exited = containers.filter((c) => c.metadata.name !== 'app').map((c) => [c.metadata.name, c.state]);
    t.deepEqual(exited.sort(), [
      ['first', 'CONTAINER_EXITED'],
      ['second', 'CONTAINER_EXITED'],
    ]);
  });

  test("shareProcessNamespace: each container sees the other's processes under one PID 1, which reaps their orphans", async (t) => {
    const hostDir = path.join(node().dir, 'shared-pid-host');
    await mkdir(hostDir, { recursive: true });
    const mounts = [{ name: 'host', mountPath: '/host' }];
    // The subshell exits at once and orphans its sleep onto PID 1, which must reap it when the sleep ends.
    const viewer = '(sleep 0.2 &); sleep 2; ps -o pid,stat,args > /host/ps.tmp; mv /host/ps.tmp /host/ps; exec sleep 3600';
    await runPod(t, 'shared-pid', {
      shareProcessNamespace: true,
      volumes: [{ name: 'host', hostPath: { path: hostDir, type: 'Directory' } }],
      containers: [container('server', 'exec sleep 3601'), container('viewer', viewer, { volumeMounts: mounts })],
    });
    await poll(async () => existsSync(path.join(hostDir, 'ps')), 20_000, 'the viewer to list the processes it sees');
    const ps = await readFile(path.join(hostDir, 'ps'), 'utf8');
    t.regex(ps, /sleep 3601/, "the other container's process");
    // crion's pod init; containerd's pause container.
    t.regex(ps, runtimeName === 'crion' ? /^\s*1\s+S\s+.*crion-monitor pod-init-serve$/m : /^\s*1\s+S\s+.*\/pause$/m, ps);
    t.notRegex(ps, /^\s*\d+\s+Z/m, `no zombie: ${ps}`);
  });

  // KEP-3857. A standalone kubelet (no API server, as here) has no RuntimeClass manager, and v1.37's
  // runtimeClassSupportsRecursiveReadOnlyMounts answers false without looking at the runtime's Status then: it never
  // sends recursive_read_only, on crion (whose Status reports it for runc) as on containerd 1.6 (which reports no
  // handler features). critest and recursive-readonly.test.ts drive crion's side over CRI instead.
  test('recursiveReadOnly on a hostPath with a submount: Enabled is refused by the standalone kubelet, IfPossible binds read-only but not recursively', async (t) => {
    t.timeout(120_000);
    const hostDir = path.join(node().dir, 'rro-host');
    const submount = path.join(hostDir, 'tmpfs');
    await mkdir(submount, { recursive: true });
    const mounted = await run('mount', ['-t', 'tmpfs', 'none', submount]);
    if (mounted.code !== 0) throw new Error(`mount tmpfs: ${mounted.stderr}`);
    // Registered before the manifest's removal, so it runs after it.
    t.teardown(async () => void (await run('umount', ['-l', submount])));
    const volumeMount = (recursiveReadOnly: string) => ({ volumeMounts: [{ name: 'host', mountPath: '/mnt', readOnly: true, recursiveReadOnly }] });
    const manifest = 'rro';
    await node().kubelet.writeManifest(
      manifest,
      staticPod(manifest, {
        volumes: [{ name: 'host', hostPath: { path: hostDir, type: 'Directory' } }],
        containers: [
          container('enabled', 'exec sleep 3600', volumeMount('Enabled')),
          container('if-possible', 'touch /mnt/tmpfs/if-possible; touch /mnt/top 2>/mnt/tmpfs/top-error; exec sleep 3600', volumeMount('IfPossible')),
        ],
      }),
    );
    t.teardown(() =>
      node()
        .kubelet.removeManifest(manifest)
        .catch(() => undefined),
    );
    const statusOf = (pod: KubePod, name: string) => (pod.status.containerStatuses ?? []).find((status) => status.name === name);
    const pod = await node().kubelet.waitForPod(
      manifest,
      (p) => statusOf(p, 'enabled')?.state.waiting?.reason === 'CreateContainerConfigError' && statusOf(p, 'if-possible')?.ready === true,
      60_000,
      'enabled refused and if-possible running',
    );
    t.regex(
      statusOf(pod, 'enabled')?.state.waiting?.message ?? '',
      /volume "host" requested recursive read-only mode, but it is not supported by the runtime/,
      "the kubelet's own refusal: the request never reaches the runtime",
    );
    t.deepEqual(
      (await node().containersOf(podName(manifest))).map((c) => c.metadata.name),
      ['if-possible'],
      'no container was created for enabled',
    );
    await poll(async () => existsSync(path.join(submount, 'top-error')), 10_000, 'the if-possible container to write');
    t.true(existsSync(path.join(submount, 'if-possible')), 'IfPossible fell back to a plain read-only bind: the submount is writable');
    t.regex(await readFile(path.join(submount, 'top-error'), 'utf8'), /Read-only file system/, 'the bind itself is read-only');
    t.is(statusOf(pod, 'if-possible')?.volumeMounts?.find((m) => m.name === 'host')?.recursiveReadOnly, 'Disabled');
  });

  test("CPU and memory limits reach the container's cgroup, and the kubelet's hugepage limits never break a create", async (t) => {
    await runPod(t, 'limits', {
      containers: [container('app', 'exec sleep 3600', { resources: { limits: { cpu: '250m', memory: '48Mi' } } })],
    });
    const [app] = await node().containersOf(podName('limits'));
    const inspected = await inspect(app!.id);
    t.deepEqual(await cgroupLimits(inspected.info.pid), { memoryBytes: 48 * 1024 * 1024, cpuQuota: 25_000, cpuPeriod: 100_000 });
    // The kubelet sent a limit for each of the kernel's page sizes; where runc has no hugetlb cgroup they must be gone.
    const hugepageLimits = inspected.info.runtimeSpec.linux?.resources?.hugepageLimits ?? [];
    if (!(await runcHasHugetlb())) t.deepEqual(hugepageLimits, []);
    if (runtimeName === 'crion') {
      t.regex(node().runtime.output(), new RegExp(`"containerId":"${app!.id}","dropped":\\[[^\\]]*hugepage_limits`));
    }
  });

  test('the termination grace period: SIGTERM first, SIGKILL when it has run out', async (t) => {
    await runPod(t, 'graceful', {
      terminationGracePeriodSeconds: 4,
      containers: [container('app', "trap 'echo TERM received' TERM; echo started; while true; do sleep 1; done")],
    });
    const [app] = await node().containersOf(podName('graceful'));
    const { logPath } = (await inspect(app!.id)).status;
    await node().kubelet.removeManifest('graceful');
    // The kubelet removes the exited container of a deleted pod within a second or so: it is caught in between.
    let status!: Awaited<ReturnType<typeof inspect>>['status'];
    await poll(
      async () => {
        status = (await inspect(app!.id)).status;
        return status.state === 'CONTAINER_EXITED';
      },
      30_000,
      'the container to exit',
      undefined,
      100,
    );
    t.is(status.exitCode, 137, 'killed once the grace period ran out');
    const term = (await readFile(logPath, 'utf8')).split('\n').find((line) => line.endsWith(' TERM received'));
    t.truthy(term, 'the container got SIGTERM first');
    const killedAfter = Date.parse(status.finishedAt) - Date.parse(term!.split(' ')[0]!);
    t.true(killedAfter >= 2_500 && killedAfter < 10_000, `killed ${killedAfter} ms after SIGTERM, with a 4 s grace period`);
  });

  test("logs go to the kubelet's pod log layout and rotate without losing a line", async (t) => {
    t.timeout(120_000);
    // Bursts of 50 numbered lines ten times a second: several rotations at the node's 8 KiB size limit.
    const script =
      'i=0; while true; do echo "line $i ................................................................"; i=$((i+1)); [ $((i % 50)) = 0 ] && usleep 100000; done';
    const pod = await runPod(t, 'chatty', { containers: [container('chatty', script)] });
    const dir = path.join(node().kubelet.podLogsDir, `${NAMESPACE}_${pod.metadata.name}_${pod.metadata.uid}`, 'chatty');
    const [chatty] = await node().containersOf(podName('chatty'));
    t.is((await inspect(chatty!.id)).status.logPath, path.join(dir, '0.log'));
    // Rotated files are named 0.log.<timestamp>; all but the newest are compressed.
    await poll(
      async () => {
        const names = await readdir(dir);
        return names.some((name) => name.endsWith('.gz')) && names.some((name) => /^0\.log\.\d{8}-\d{6}$/.test(name));
      },
      90_000,
      'two rotations',
    );
    // The kubelet renames and compresses files as it goes: read again when one moved under the reader.
    let numbers: number[] | null = null;
    while (numbers === null)
      numbers = await logLineNumbers(dir).catch((error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? null : Promise.reject(error)));
    t.true(numbers.length > 200, `${numbers.length} lines`);
    const gaps = numbers.flatMap((n, i) => (i > 0 && n !== numbers[i - 1]! + 1 ? [`${numbers[i - 1]} → ${n}`] : []));
    t.deepEqual(gaps, [], 'the retained files hold consecutive lines, across every rotation');
  });

  /**
   * The streaming scenarios share one pod, started by the first that needs it: a shell to exec
   * in, a `sh` reading its stdin to attach to, and an httpd on port 80 to forward to.
   */
  let streamsPod: Promise<KubePod> | undefined;
  const streams = (): Promise<KubePod> =>
    (streamsPod ??= (async () => {
      await node().kubelet.writeManifest(
        'streams',
        staticPod('streams', {
          containers: [
            container('shell', 'exec sleep 3600'),
            // stdinOnce stays false: the container's stdin must outlive each attach.
            { name: 'attached', image: image(), command: ['sh'], stdin: true },
            container('web', `mkdir -p /www && echo '${WEB_BODY}' > /www/index.html && exec httpd -f -p 80 -h /www`, {
              readinessProbe: { tcpSocket: { port: 80 }, periodSeconds: 1 },
            }),
          ],
        }),
      );
      return node().kubelet.waitForPod('streams', allReady, 90_000, 'ready');
    })());
  /** A streaming endpoint of the kubelet's API for the `streams` pod. */
  const streamUrl = (endpoint: 'exec' | 'attach' | 'portForward', container: string | null, query: string) =>
    node().kubelet.streamUrl(`/${endpoint}/${NAMESPACE}/${podName('streams')}${container === null ? '' : `/${container}`}?${query}`);
  const execQuery = (command: readonly string[], stdin = false) =>
    `${command.map((part) => `command=${encodeURIComponent(part)}`).join('&')}${stdin ? '&input=1' : ''}&output=1&error=1`;

  // v5 is the one the kubelet itself speaks: it ends the WebSocket and dials the runtime's URL over
  // SPDY (ExtendWebSocketsToKubelet, beta and on since 1.36). Anything older it proxies, upgrade and
  // all, to the runtime's own WebSocket server. Both paths, then.
  for (const protocol of ['v5.channel.k8s.io', 'v4.channel.k8s.io']) {
    test(`exec through the kubelet over WebSocket ${protocol}: stdout on channel 1, the exit code in the status on channel 3`, async (t) => {
      await streams();
      const client = await KubeStreamClient.open(streamUrl('exec', 'shell', execQuery(['sh', '-c', 'echo hello; exit 3'])), [protocol]);
      t.is(client.protocol, protocol);
      await client.waitClosed();
      t.is(client.output(STDOUT).toString(), 'hello\n', client.describe());
      t.is(client.output(STDERR).length, 0, client.describe());
      t.like(JSON.parse(client.output(ERROR).toString()), {
        status: 'Failure',
        reason: 'NonZeroExitCode',
        details: { causes: [{ reason: 'ExitCode', message: '3' }] },
      });
    });
  }

  test('exec through the kubelet with stdin over v5: data on channel 0, the close signal is its EOF, then a Success status', async (t) => {
    await streams();
    const client = await KubeStreamClient.open(streamUrl('exec', 'shell', execQuery(['tr', 'a-z', 'A-Z'], true)), ['v5.channel.k8s.io']);
    client.send(STDIN, 'through the kubelet\n');
    await client.waitFor('the echoed line', () => client.output(STDOUT).toString().includes('\n'));
    // tr exits only on EOF, so a status at all means the close signal reached its stdin.
    client.closeChannel(STDIN);
    await client.waitClosed();
    t.is(client.output(STDOUT).toString(), 'THROUGH THE KUBELET\n', client.describe());
    t.like(JSON.parse(client.output(ERROR).toString()), { status: 'Success' });
  });

  test('attach through the kubelet reaches the stdin of the running sh; the container outlives the session, and its stdin too', async (t) => {
    t.timeout(90_000);
    await streams();
    const attachQuery = 'input=1&output=1&error=1';
    const first = await KubeStreamClient.open(streamUrl('attach', 'attached', attachQuery), ['v5.channel.k8s.io']);
    first.send(STDIN, 'echo attached\n');
    await first.waitFor('the echo on stdout', () => first.output(STDOUT).toString().includes('attached\n'));
    await first.close();
    // A few of the kubelet's relists: a container whose stdin the session had closed would have exited by now.
    await sleep(4_000);
    const status = statusesOf((await node().kubelet.pod('streams'))!).find((entry) => entry.name === 'attached')!;
    t.truthy(status.state.running, JSON.stringify(status));
    t.is(status.restartCount, 0);
    const containers = await node().containersOf(podName('streams'));
    t.deepEqual(
      containers.filter((c) => c.metadata.name === 'attached').map((c) => [c.metadata.attempt, c.state]),
      [[0, 'CONTAINER_RUNNING']],
    );
    // The same sh still reads its stdin, this time through the runtime's own WebSocket server (v4 is proxied as is).
    const second = await KubeStreamClient.open(streamUrl('attach', 'attached', attachQuery), ['v4.channel.k8s.io']);
    t.is(second.protocol, 'v4.channel.k8s.io');
    second.send(STDIN, 'echo "still $((40 + 2))"\n');
    await second.waitFor('the second echo on stdout', () => second.output(STDOUT).toString().includes('still 42\n'));
    await second.close();
    t.is(second.output(STDOUT).toString(), 'still 42\n');
  });

  test('port forward through the kubelet over WebSocket v4.channel.k8s.io: the port on both channels, then HTTP both ways', async (t) => {
    await streams();
    const client = await KubeStreamClient.open(streamUrl('portForward', null, 'port=80'), ['v4.channel.k8s.io']);
    t.is(client.protocol, 'v4.channel.k8s.io');
    const port80 = Buffer.of(80, 0);
    await client.waitFor('the port on the data and error channels', () => client.firstMessage(0) !== null && client.firstMessage(1) !== null);
    t.deepEqual(client.firstMessage(0), port80);
    t.deepEqual(client.firstMessage(1), port80);
    client.send(0, 'GET /index.html HTTP/1.0\r\nHost: localhost\r\n\r\n');
    const response = () => client.output(0).subarray(port80.length).toString();
    await client.waitFor("httpd's response", () => response().endsWith(`${WEB_BODY}\n`));
    t.regex(response(), /^HTTP\/1\.[01] 200 OK\r\n/);
    t.true(response().includes(`\r\n\r\n${WEB_BODY}\n`), response());
    t.deepEqual(client.output(1), port80, 'nothing on the error channel but the port');
    await client.close();
  });

  test("port forward through the kubelet over SPDY tunnelled in a WebSocket, kubectl's way since 1.31: HTTP both ways", async (t) => {
    await streams();
    // The kubelet takes no ?port= here: it turns the upgrade into a SPDY one to the runtime, and the ports travel in stream headers.
    const url = node()
      .kubelet.streamUrl(`/portForward/${NAMESPACE}/${podName('streams')}`)
      .replace(/^wss:/, 'https:');
    const tunnel = await SpdyTunnel.open(url, 'SPDY/3.1+portforward.k8s.io');
    t.is(tunnel.protocol, 'SPDY/3.1+portforward.k8s.io');
    // As client-go does it: the error stream first, its write side closed at once, then the data stream of the same request.
    tunnel.openStream(1, { streamtype: 'error', port: '80', requestid: '0' });
    tunnel.sendData(1, '', true);
    tunnel.openStream(3, { streamtype: 'data', port: '80', requestid: '0' });
    await tunnel.until('replies to both streams', () => tunnel.replied(1) && tunnel.replied(3));
    tunnel.sendData(3, 'GET /index.html HTTP/1.0\r\nHost: localhost\r\n\r\n');
    const response = () => tunnel.data(3).toString();
    await tunnel.until("httpd's response", () => response().endsWith(`${WEB_BODY}\n`));
    t.regex(response(), /^HTTP\/1\.[01] 200 OK\r\n/);
    t.true(response().includes(`\r\n\r\n${WEB_BODY}\n`), response());
    t.is(tunnel.data(1).length, 0, tunnel.describe());
    t.deepEqual(tunnel.trouble, []);
    tunnel.close();
  });

  test('with CRIListStreaming the kubelet lists pods, containers and images through the Stream RPCs', async (t) => {
    t.timeout(60_000);
    // The serial restart tests before this one kill the runtime under the kubelet, which may cut a stream then.
    const logBefore = (await readFile(node().kubelet.logPath, 'utf8')).length;
    await runPod(t, 'listed', { containers: [container('idle', 'exec sleep 3600')] });
    const kubeletLog = await readFile(node().kubelet.logPath, 'utf8');
    t.notRegex(kubeletLog.slice(logBefore), /Stream\w+ recv failed/);
    if (runtimeName === 'containerd') {
      // containerd 1.6 has no Stream RPCs: the kubelet's fallback is what the control shows. Its first list call
      // finds that out and turns streaming off for the rest, whichever list it was.
      t.regex(kubeletLog, /Stream\w+ not implemented, falling back to List\w+/);
      return;
    }
    t.notRegex(kubeletLog, /not implemented, falling back/);
    for (const rpc of ['StreamPodSandboxes', 'StreamContainers', 'StreamImages']) {
      t.regex(node().runtime.output(), new RegExp(`"rpc":"${rpc}".*"outcome":"ok"`), `crion served ${rpc}`);
    }
  });

  test("supplementalGroupsPolicy Strict: the container gets the pod's groups but not those the image's /etc/group gives its user", async (t) => {
    t.timeout(120_000);
    const manifest = 'strict-groups';
    const spec = {
      // The image's user 1000 is a member of group 50000 in its /etc/group; Merge would add it.
      securityContext: { runAsUser: 1000, supplementalGroups: [1234], supplementalGroupsPolicy: 'Strict' },
      containers: [
        {
          name: 'ids',
          image: `${source!.registry.host}/k8s-staging-cri-tools/test-image-predefined-group:latest`,
          command: ['sh', '-c', 'id -G; exec sleep 3600'],
        },
      ],
    };
    if (runtimeName === 'containerd') {
      // containerd 1.6 does not report the feature in Status, so the kubelet refuses the pod at admission.
      await node().kubelet.writeManifest(manifest, staticPod(manifest, spec));
      t.teardown(() =>
        node()
          .kubelet.removeManifest(manifest)
          .catch(() => undefined),
      );
      const refused = await node().kubelet.waitForPod(manifest, (pod) => pod.status.phase === 'Failed', 60_000, 'refused');
      t.is(refused.status.reason, 'SupplementalGroupsPolicyNotSupported', JSON.stringify(refused.status));
      return;
    }
    const pod = await runPod(t, manifest, spec);
    const [status] = statusesOf(pod);
    t.deepEqual(status?.user?.linux, { uid: 1000, gid: 1000, supplementalGroups: [1000, 1234] }, JSON.stringify(status));
    const log = path.join(node().kubelet.podLogsDir, `${NAMESPACE}_${pod.metadata.name}_${pod.metadata.uid}`, 'ids', '0.log');
    await poll(async () => existsSync(log) && (await readFile(log, 'utf8')).includes('\n'), 20_000, `the first line of ${log}`);
    // `id -G` in the container: its own group and the pod's, not the image's 50000.
    t.regex(await readFile(log, 'utf8'), / stdout F 1000 1234\n/);
  });

  test("the kubelet's checkpoint API checkpoints a running container through the runtime, which runs on", async (t) => {
    t.timeout(180_000);
    const manifest = 'checkpointed';
    await runPod(t, manifest, { containers: [container('counter', 'i=0; while true; do i=$((i+1)); echo $i > /tmp/count; sleep 1; done')] });
    const { kubelet } = node();
    const response = await kubelet.post(`/checkpoint/${NAMESPACE}/${podName(manifest)}/counter`, 120_000);
    if (runtimeName === 'containerd') {
      // containerd 1.6 has no CheckpointContainer: the kubelet passes the runtime's refusal on.
      t.is(response.status, 500, response.body);
      t.regex(response.body, /Unimplemented/);
      return;
    }
    t.is(response.status, 200, response.body);
    const { items } = JSON.parse(response.body) as { items: string[] };
    t.is(items.length, 1, response.body);
    const archive = items[0]!;
    t.is(path.dirname(archive), path.join(kubelet.rootDir, 'checkpoints'));
    const listing = await run('tar', ['-tf', archive]);
    t.is(listing.code, 0, listing.stderr);
    const entries = listing.stdout.split('\n').map((entry) => entry.replace(/^\.\//, ''));
    // The layout CRI-O and Podman write, which `crictl create` and RestorePod read back.
    for (const entry of ['config.dump', 'spec.dump', 'rootfs-diff.tar']) t.true(entries.includes(entry), `${entry} in ${archive}`);
    t.true(
      entries.some((entry) => /^checkpoint\/pages-\d+\.img$/.test(entry)),
      `CRIU's page images in ${archive}`,
    );
    // A checkpoint without --leave-running would have stopped it: the kubelet would restart it.
    await sleep(3_000);
    const pod = await kubelet.pod(manifest);
    const [status] = statusesOf(pod!);
    t.truthy(status?.state.running, JSON.stringify(status));
    t.is(status?.restartCount, 0);
  });

  test("the kubelet's stats summary has CPU, memory, rootfs and log figures for the pod and each container", async (t) => {
    t.timeout(120_000);
    const pod = await runPod(t, 'stats', {
      containers: [
        container('writer', 'dd if=/dev/zero of=/scratch bs=1024 count=512 && echo wrote && exec sleep 3600'),
        container('idle', 'exec sleep 3600'),
      ],
    });
    // Figures come from the runtime's stats calls and the kubelet's own log and volume walks, each on its own cadence.
    let stats: PodStats | undefined;
    await poll(
      async () => {
        stats = (await node().kubelet.statsSummary()).pods.find((entry) => entry.podRef.uid === pod.metadata.uid);
        const writer = stats?.containers?.find((entry) => entry.name === 'writer');
        return (
          (writer?.rootfs?.usedBytes ?? 0) >= 512 * 1024 && (stats?.containers ?? []).every((entry) => (entry.cpu?.usageCoreNanoSeconds ?? 0) > 0)
        );
      },
      90_000,
      "the writer's 512 KiB in its rootfs figure",
      () => JSON.stringify(stats ?? null),
    );
    t.true(stats!.cpu!.usageCoreNanoSeconds! > 0);
    t.true(stats!.memory!.workingSetBytes! > 0);
    t.deepEqual(stats!.containers!.map((entry) => entry.name).sort(), ['idle', 'writer']);
    for (const entry of stats!.containers!) {
      t.true(entry.cpu!.usageCoreNanoSeconds! > 0, `${entry.name} cpu`);
      t.true(entry.memory!.workingSetBytes! > 0, `${entry.name} memory`);
      t.true(entry.rootfs!.usedBytes! >= 0 && entry.rootfs!.capacityBytes! > 0, `${entry.name} rootfs`);
      t.true(entry.logs!.usedBytes! >= 0 && entry.logs!.capacityBytes! > 0, `${entry.name} logs`);
    }
    const writer = stats!.containers!.find((entry) => entry.name === 'writer')!;
    t.true(writer.rootfs!.usedBytes! >= 512 * 1024, 'the writable layer holds what dd wrote');
    t.true(writer.logs!.usedBytes! > 0, 'the log holds what it echoed');
  });
}

type PodStats = StatsSummary['pods'][number];

interface PrometheusSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition: `name{key="value",…} value [timestamp]`, comments skipped. */
function prometheusSamples(text: string): PrometheusSample[] {
  const samples: PrometheusSample[] = [];
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/.exec(line);
    if (match?.[1] === undefined || match[3] === undefined) continue;
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]!] = pair[2]!.replace(/\\(.)/g, '$1');
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

interface InspectedContainer {
  status: { state: string; exitCode: number; finishedAt: string; logPath: string };
  info: { pid: number; runtimeSpec: { linux?: { resources?: { hugepageLimits?: unknown[] } } } };
}

function statusesOf(pod: KubePod): KubeContainerStatus[] {
  return pod.status.containerStatuses ?? [];
}

async function poll(check: () => Promise<boolean>, timeoutMs: number, what: string, describe?: () => string, intervalMs = 500): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`waited ${timeoutMs} ms for ${what}${describe ? `; last seen: ${describe()}` : ''}`);
    await sleep(intervalMs);
  }
}

/** Processes and mounts go a moment after the runtime says a pod is gone: compare until equal or out of time. */
async function pollSnapshot(take: () => Promise<HostSnapshot>, expected: HostSnapshot): Promise<HostSnapshot> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const snapshot = await take();
    if (JSON.stringify(snapshot) === JSON.stringify(expected) || Date.now() > deadline) return snapshot;
    await sleep(500);
  }
}

/** The memory limit and CFS quota of a process's cgroups, from the v1 hierarchies or the v2 one. */
async function cgroupLimits(pid: number): Promise<CgroupLimits> {
  const lines = (await readFile(`/proc/${pid}/cgroup`, 'utf8'))
    .trim()
    .split('\n')
    .map((line) => line.split(':'));
  const v1 = (controller: string) => lines.find(([, controllers]) => controllers!.split(',').includes(controller))?.[2];
  const read = async (file: string) => (await readFile(file, 'utf8')).trim();
  const memory = v1('memory');
  const cpu = v1('cpu');
  if (memory !== undefined && cpu !== undefined) {
    const cpuDir = (await readdir('/sys/fs/cgroup')).find((name) => name.split(',').includes('cpu'))!;
    return {
      memoryBytes: Number(await read(path.join('/sys/fs/cgroup/memory', memory, 'memory.limit_in_bytes'))),
      cpuQuota: Number(await read(path.join('/sys/fs/cgroup', cpuDir, cpu, 'cpu.cfs_quota_us'))),
      cpuPeriod: Number(await read(path.join('/sys/fs/cgroup', cpuDir, cpu, 'cpu.cfs_period_us'))),
    };
  }
  const unified = path.join('/sys/fs/cgroup', lines.find(([id]) => id === '0')![2]!);
  const [quota, period] = (await read(path.join(unified, 'cpu.max'))).split(' ');
  return { memoryBytes: Number(await read(path.join(unified, 'memory.max'))), cpuQuota: Number(quota), cpuPeriod: Number(period) };
}

/** runc's v1 driver writes hugetlb limits only to a v1 hugetlb hierarchy; on v2 the root must offer the controller. */
async function runcHasHugetlb(): Promise<boolean> {
  if (existsSync('/sys/fs/cgroup/cgroup.controllers')) {
    return (await readFile('/sys/fs/cgroup/cgroup.controllers', 'utf8')).split(/\s+/).includes('hugetlb');
  }
  return existsSync('/sys/fs/cgroup/hugetlb');
}

/**
 * The numbers of `line N` records in a container's log dir: rotated files
 * oldest first (their names end in the rotation time), then 0.log, with
 * partial (P) records joined to the full (F) one that ends them.
 */
async function logLineNumbers(dir: string): Promise<number[]> {
  const names = await readdir(dir);
  const rotated = names.filter((name) => name.startsWith('0.log.')).sort((a, b) => a.replace(/\.gz$/, '').localeCompare(b.replace(/\.gz$/, '')));
  let pending = '';
  const numbers: number[] = [];
  for (const name of [...rotated, '0.log']) {
    const raw = await readFile(path.join(dir, name));
    const text = name.endsWith('.gz') ? gunzipSync(raw).toString('utf8') : raw.toString('utf8');
    for (const record of text.split('\n').filter(Boolean)) {
      const [, , tag, ...content] = record.split(' ');
      pending += content.join(' ');
      if (tag === 'P') continue;
      const number = /^line (\d+) /.exec(pending)?.[1];
      if (number !== undefined) numbers.push(Number(number));
      pending = '';
    }
  }
  return numbers;
}
