/**
 * Container records as the container manager holds them, every field at its plainest (an app container named after
 * its ID, of image busybox, created and never started), so a test states only what it is about.
 */

import type { ContainerRecord } from '../../src/container/container-record.js';

export function containerRecord(id: string, sandboxId: string, overrides: Partial<ContainerRecord> = {}): ContainerRecord {
  return {
    id,
    sandboxId,
    metadata: { name: id, attempt: 0 },
    image: 'busybox',
    imageId: 'sha256:1',
    imageRef: 'sha256:1',
    config: { labels: {}, annotations: {}, mounts: [], linux: null } as unknown as ContainerRecord['config'],
    state: 'CONTAINER_CREATED',
    createdAt: '1',
    startedAt: '0',
    finishedAt: '0',
    exitCode: 0,
    reason: '',
    message: '',
    pid: 0,
    monitorPid: 0,
    logPath: '',
    runtimeHandler: 'runc',
    stopSignal: 'TERM',
    infra: false,
    user: { uid: 0, gid: 0, supplementalGroups: [] },
    ...overrides,
  };
}
