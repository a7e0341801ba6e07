import type { ContainerRecord } from '../container/container-record.js';
import type { SandboxRecord } from '../sandbox/sandbox-manager.js';

/**
 * What the sandbox and container managers tell NRI plugins (nri-plugins.ts),
 * or nothing when NRI is off (NO_NRI). `runPodSandbox` and `createContainer`
 * run `commit`, which records the object, only once every plugin accepted
 * it, so nothing a plugin is still deciding on is listed; a plugin's refusal
 * throws and the caller's cleanup undoes the rest.
 */
export interface NriHooks {
  runPodSandbox<T>(pod: SandboxRecord, commit: () => Promise<T>): Promise<T>;
  stopPodSandbox(pod: SandboxRecord): Promise<void>;
  removePodSandbox(pod: SandboxRecord): Promise<void>;
  createContainer<T>(pod: SandboxRecord, container: ContainerRecord, commit: () => Promise<T>): Promise<T>;
  startContainer(pod: SandboxRecord, container: ContainerRecord): Promise<void>;
  stopContainer(pod: SandboxRecord, container: ContainerRecord): Promise<void>;
  removeContainer(pod: SandboxRecord, container: ContainerRecord): Promise<void>;
}

export const NO_NRI: NriHooks = {
  runPodSandbox: (_pod, commit) => commit(),
  stopPodSandbox: () => Promise.resolve(),
  removePodSandbox: () => Promise.resolve(),
  createContainer: (_pod, _container, commit) => commit(),
  startContainer: () => Promise.resolve(),
  stopContainer: () => Promise.resolve(),
  removeContainer: () => Promise.resolve(),
};
