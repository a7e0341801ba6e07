/**
 * Pod requests and records as the sandbox manager holds them, every field at its plainest (no DNS, labels, sysctls
 * or port mappings; POD network and IPC, a PID namespace per container), so a test states only what it is about.
 */

import type { SandboxRecord, SandboxRequest } from '../../src/sandbox/sandbox-manager.js';

/** A RunPodSandbox request for a pod named `name`, also its hostname, in the default namespace. */
export function sandboxRequest(name: string, overrides: Partial<SandboxRequest> = {}): SandboxRequest {
  return {
    metadata: { name, uid: `${name}-uid`, namespace: 'default', attempt: 0 },
    hostname: name,
    logDirectory: '',
    dns: null,
    labels: {},
    annotations: {},
    cgroupParent: '',
    sysctls: {},
    network: 'POD',
    pid: 'CONTAINER',
    ipc: 'POD',
    runtimeHandler: '',
    portMappings: [],
    config: {},
    ...overrides,
  };
}

/** The READY pod `id` that sandboxRequest(id) made, with no pinned namespaces, pod files, /dev/shm, infra container or IPs. */
export function sandboxRecord(id: string, overrides: Partial<SandboxRecord> = {}): SandboxRecord {
  return {
    ...sandboxRequest(id),
    id,
    state: 'SANDBOX_READY',
    createdAt: '0',
    namespaces: { net: null, ipc: null, uts: null },
    files: { hosts: '', resolvConf: '', hostname: '' },
    shm: null,
    infraContainerId: null,
    ips: [],
    ...overrides,
  };
}
