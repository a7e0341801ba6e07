/**
 * The kubelet's EventedPLEG feature gate on a runtime: the kubelet subscribes to GetContainerEvents and relists a
 * pod at once when the runtime says one of its containers stopped, and takes a pod's container statuses from
 * PodSandboxStatus when the runtime stamps it. Its own node (the gate and --v=4, whose lines show what the kubelet
 * made of the stream), so crion-evented-pleg.test.ts and containerd-evented-pleg.test.ts (the control) each call
 * eventedPlegScenarios once.
 */

import type { ExecutionContext, TestFn } from 'ava';
import { readFile } from 'node:fs/promises';
import { startImageSource, type ImageSource } from '../helpers/image-source.js';
import { allReady, staticPod, type KubePod } from '../helpers/kubelet.js';
import { KubeletNode, type RuntimeName } from '../helpers/kubelet-node.js';

const NAMESPACE = 'kubelet-evented';

export function eventedPlegScenarios(test: TestFn, runtimeName: RuntimeName): void {
  let source: ImageSource | undefined;
  let started: KubeletNode | undefined;
  test.before(async () => {
    source = await startImageSource({ critestImages: true });
    started = await KubeletNode.start(runtimeName, source, { featureGates: { EventedPLEG: true }, kubeletVerbosity: 4 });
    await started.pullImages(source);
  });
  test.after.always(async () => {
    await started?.dispose();
    await source?.dispose();
  });
  const node = (): KubeletNode => started!;
  const kubeletLog = () => readFile(node().kubelet.logPath, 'utf8');

  /** Writes a static pod's manifest and removes it when the test ends. */
  async function writePod(t: ExecutionContext, manifest: string, spec: Record<string, unknown>): Promise<void> {
    await node().kubelet.writeManifest(manifest, staticPod(manifest, NAMESPACE, spec));
    t.teardown(() =>
      node()
        .kubelet.removeManifest(manifest)
        .catch(() => undefined),
    );
  }

  test.serial("a container's exit reaches the kubelet as an event that relists its pod; its restart and statuses follow", async (t) => {
    t.timeout(180_000);
    const manifest = 'evented';
    await writePod(t, manifest, {
      restartPolicy: 'Always',
      containers: [
        { name: 'steady', image: source!.images.busybox.reference, command: ['sh', '-c', 'exec sleep 3600'] },
        { name: 'quitter', image: source!.images.busybox.reference, command: ['sh', '-c', 'sleep 3; exit 3'] },
      ],
    });
    const restarted = (pod: KubePod) =>
      (pod.status.containerStatuses ?? []).some((status) => status.name === 'quitter' && status.restartCount >= 1) &&
      (pod.status.containerStatuses ?? []).some((status) => status.name === 'steady' && status.ready);
    const pod = await node().kubelet.waitForPod(manifest, restarted, 120_000, 'quitter restarted, steady ready');

    // The statuses the kubelet reports name the runtime's containers: with the gate on and a stamped
    // PodSandboxStatus, it read them from that response's containers_statuses.
    const podName = `${manifest}-${node().kubelet.options.nodeName}`;
    const containers = await node().containersOf(podName);
    const steady = containers.find((c) => c.metadata.name === 'steady')!;
    const quitter = containers.find((c) => c.metadata.name === 'quitter' && c.metadata.attempt === 0)!;
    t.truthy(quitter, JSON.stringify(containers));
    const statusOf = (name: string) => pod.status.containerStatuses!.find((status) => status.name === name)!;
    t.is(statusOf('steady').containerID, `${runtimeName}://${steady.id}`);
    t.is(statusOf('quitter').lastState?.terminated?.exitCode, 3);

    const log = await kubeletLog();
    const relistLine = new RegExp(
      `Evented PLEG: requested pod relist after container termination" podUID="${pod.metadata.uid}" containerID="${quitter.id}"`,
    );
    if (runtimeName === 'containerd') {
      // containerd 1.6 has no GetContainerEvents: the kubelet gives up on the stream and relists only on its timer,
      // and without a stamp on PodSandboxStatus it asks for each container's status on its own.
      t.regex(log, /Evented PLEG: disabling container-termination fast path after exhausting event stream retries/);
      t.regex(log, /Runtime does not set pod status timestamp/);
      t.notRegex(log, relistLine);
      return;
    }
    t.regex(log, relistLine, 'the kubelet acted on the STOPPED event of the exited container');
    t.notRegex(log, /Evented PLEG: (failed to get container events|disabling container-termination fast path)/);
    t.notRegex(log, /received ContainerEventResponse with nil PodSandboxStatus/);
    t.notRegex(log, /Runtime does not set pod status timestamp/);
    const info = await node().json<{ containerEvents: { subscribers: number; droppedSubscribers: number } }>(['info']);
    t.like(info.containerEvents, { subscribers: 1, droppedSubscribers: 0 }, 'the kubelet holds one subscription, never dropped');
  });

  test.serial('every container of a pod is ready with the gate on', async (t) => {
    t.timeout(120_000);
    const manifest = 'evented-ready';
    await writePod(t, manifest, {
      containers: ['one', 'two', 'three'].map((name) => ({
        name,
        image: source!.images.busybox.reference,
        command: ['sh', '-c', 'touch /tmp/ready; exec sleep 3600'],
        readinessProbe: { exec: { command: ['cat', '/tmp/ready'] }, periodSeconds: 2 },
      })),
    });
    const pod = await node().kubelet.waitForPod(manifest, allReady, 90_000, 'ready');
    t.deepEqual(pod.status.containerStatuses!.map((status) => [status.name, status.restartCount]).sort(), [
      ['one', 0],
      ['three', 0],
      ['two', 0],
    ]);
  });
}
