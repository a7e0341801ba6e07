import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { ImageManager } from '../image/image-manager.js';
import type { Logger } from '../log/logger.js';
import { runtimeHandlerOf } from '../oci/index.js';
import type { SandboxManager } from '../sandbox/sandbox-manager.js';
import type { RecordStore } from '../state/record-store.js';
import { unixNanos } from '../unix-nanos.js';
import { readBundleSpec } from './bundle.js';
import type { ContainerHost } from './container-host.js';
import { removeRuntimeDir } from './container-launch.js';
import type { ContainerRecord } from './container-record.js';
import type { ExitTracker } from './exit-tracker.js';
import type { ContainerRuntime } from './oci-runtime.js';

/**
 * A daemon restart: containers run on under their monitors while the daemon
 * is down, so at start it takes them up again from their records, and
 * undoes what creates it died in left behind.
 */

/** Told of each container a restart found still under its monitor, taken up again (the metrics). */
export interface RestoreObserver {
  recovered(): void;
}

export interface RestoreDeps {
  readonly records: RecordStore<ContainerRecord>;
  readonly runtimeDir: string;
  readonly images: Pick<ImageManager, 'find' | 'holdLayers'>;
  readonly runtimes: (handler: string) => ContainerRuntime;
  readonly sandboxes: Pick<SandboxManager, 'get'>;
  readonly containerHost: Pick<ContainerHost, 'processAlive' | 'unmountRootfs'>;
  readonly exits: ExitTracker;
  /** Keeps the container's layers until it is removed. */
  readonly holdLayers: (containerId: string, release: () => Promise<void>) => void;
  readonly remove: (containerId: string) => Promise<void>;
  readonly restoreObserver?: RestoreObserver;
  readonly log: Logger;
}

/**
 * Holds every container's layers (the caller collects unused layers only
 * after this), follows the monitors still running, records the exits that
 * happened meanwhile, then removes the orphans.
 */
export async function restoreContainers(deps: RestoreDeps): Promise<void> {
  for (const container of deps.records.list()) {
    const layers = container.layers ?? deps.images.find(container.imageId)?.layers;
    const volumeLayers = (container.imageVolumes ?? []).flatMap((volume) => volume.layers);
    if (layers) deps.holdLayers(container.id, deps.images.holdLayers([...layers, ...volumeLayers]));
    if (container.state === 'CONTAINER_EXITED') continue;
    if (container.restoreImages !== undefined) {
      await finishInterruptedRestore(deps, container, container.restoreImages);
      continue;
    }
    if (container.monitorPid > 0 && deps.containerHost.processAlive(container.monitorPid)) {
      deps.restoreObserver?.recovered();
      const current = container.state === 'CONTAINER_CREATED' ? await finishInterruptedStart(deps, container) : container;
      if (current.state === 'CONTAINER_RUNNING') deps.exits.follow(current);
    } else {
      await deps.exits.recordExit(container.id);
    }
  }
  await removeOrphans(deps);
}

/** A start the daemon died in may have reached the runtime: then the container runs, whatever its record says. */
async function finishInterruptedStart(deps: RestoreDeps, container: ContainerRecord): Promise<ContainerRecord> {
  if (container.startingAt === undefined) return container;
  const status = await deps.runtimes(container.runtimeHandler).status(container.id);
  if (status !== 'running' && status !== 'stopped') return container;
  const running: ContainerRecord = { ...container, state: 'CONTAINER_RUNNING', startedAt: container.startingAt };
  await deps.records.save(running);
  deps.log.info({ containerId: container.id }, 'a start the daemon died in had started the container');
  return running;
}

/**
 * A container made from a checkpoint has no monitor until its start, and the start records the monitor only once
 * it has reported. A daemon that died in between finds the pid file the monitor writes after a successful restore:
 * the container runs (or has exited since, as its exit file says). Without one it was never restored, and stays
 * CREATED for its start.
 */
async function finishInterruptedRestore(deps: RestoreDeps, container: ContainerRecord, images: string): Promise<void> {
  const stateDir = path.join(deps.runtimeDir, container.id);
  const monitorPid = await readPidFile(path.join(stateDir, 'monitor.pid'));
  if (monitorPid === null) return;
  const { restoreImages: _restored, ...rest } = container;
  const restored: ContainerRecord = {
    ...rest,
    state: 'CONTAINER_RUNNING',
    pid: (await readPidFile(path.join(stateDir, 'container.pid'))) ?? 0,
    monitorPid,
    startedAt: container.startingAt ?? unixNanos(),
  };
  await deps.records.save(restored);
  await rm(path.dirname(images), { recursive: true, force: true });
  deps.log.info({ containerId: container.id }, 'a start the daemon died in had restored the container from its checkpoint');
  if (deps.containerHost.processAlive(monitorPid)) {
    deps.restoreObserver?.recovered();
    deps.exits.follow(restored);
  } else {
    await deps.exits.recordExit(container.id);
  }
}

async function readPidFile(file: string): Promise<number | null> {
  const pid = Number.parseInt(await readFile(file, 'utf8').catch(() => ''), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

/**
 * What a create the daemon died in left behind. A container's record is
 * saved last, and RecordStore.open has already dropped the writable layer
 * of one without a record, but its runtime directory still holds the
 * rootfs and image volume mounts and the OCI runtime's container, whose monitor and
 * `runc init` wait for a start that never comes. An infra container whose
 * pod does not name it was started by a RunPodSandbox that died before
 * saving the pod; nothing would ever stop it. A step that fails is logged
 * and retried at the next start.
 */
async function removeOrphans(deps: RestoreDeps): Promise<void> {
  for (const container of deps.records.list()) {
    if (container.infra && deps.sandboxes.get(container.sandboxId)?.infraContainerId !== container.id) {
      await deps
        .remove(container.id)
        .catch((error: unknown) =>
          deps.log.error({ err: error, containerId: container.id }, 'cannot remove an infra container its pod never recorded'),
        );
    }
  }
  const ids = await readdir(deps.runtimeDir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  for (const id of ids.filter((candidate) => deps.records.get(candidate) === undefined)) {
    const runtimeDir = path.join(deps.runtimeDir, id);
    try {
      // Without a spec the monitor was never started, so the runtime has no such container.
      const spec = await readBundleSpec(runtimeDir);
      const handler = spec === null ? null : runtimeHandlerOf(spec.annotations);
      if (handler !== null) await deps.runtimes(handler).delete(id);
      await removeRuntimeDir(deps.containerHost, runtimeDir);
      deps.log.info({ containerId: id }, 'removed what a container the daemon died creating left behind');
    } catch (error) {
      deps.log.error(
        { err: error, containerId: id },
        'cannot remove what a container the daemon died creating left behind; retried at the next start',
      );
    }
  }
}
