import path from 'node:path';
import protobuf from 'protobufjs';
import type { ContainerRecord } from '../container/container-record.js';
import { packageRoot } from '../package-info.js';
import type { SandboxRecord } from '../sandbox/sandbox-manager.js';

/**
 * The NRI protocol's messages (proto/nri/api.proto, vendored from
 * containerd/nri v0.12.2) and the pods and containers crion tells plugins
 * about, in that protocol's shape.
 */

export const PLUGIN_SERVICE = 'nri.pkg.api.v1alpha1.Plugin';
export const RUNTIME_SERVICE = 'nri.pkg.api.v1alpha1.Runtime';
/** The NRI version crion speaks, sent in ConfigureRequest. */
export const NRI_VERSION = 'v0.12.2';

/** api.proto's Event enum: a plugin subscribes with bit (event - 1) of ConfigureResponse.events. */
export const NriEvent = {
  RUN_POD_SANDBOX: 1,
  STOP_POD_SANDBOX: 2,
  REMOVE_POD_SANDBOX: 3,
  CREATE_CONTAINER: 4,
  START_CONTAINER: 6,
  STOP_CONTAINER: 10,
  REMOVE_CONTAINER: 11,
} as const;
export type NriEvent = (typeof NriEvent)[keyof typeof NriEvent];
/** Every event up to api.proto's LAST (15): what a plugin that names none is subscribed to. */
export const ALL_EVENTS = (1 << 14) - 1;

let root: protobuf.Root | null = null;

function messageType(name: string): protobuf.Type {
  root ??= protobuf.loadSync(path.join(packageRoot, 'proto', 'nri', 'api.proto'));
  return root.lookupType(`nri.pkg.api.v1alpha1.${name}`);
}

export function encode(name: string, message: object): Buffer {
  const type = messageType(name);
  return Buffer.from(type.encode(type.fromObject(message)).finish());
}

export function decode<T>(name: string, data: Buffer): T {
  const type = messageType(name);
  return type.toObject(type.decode(data), { longs: Number, enums: Number, defaults: true, arrays: true, objects: true }) as T;
}

/** api.proto's PodSandbox, as far as crion knows it. */
export function nriPod(sandbox: SandboxRecord): object {
  return {
    id: sandbox.id,
    name: sandbox.metadata.name,
    uid: sandbox.metadata.uid,
    namespace: sandbox.metadata.namespace,
    labels: { ...sandbox.labels },
    annotations: { ...sandbox.annotations },
    runtimeHandler: sandbox.runtimeHandler,
    linux: { cgroupParent: sandbox.cgroupParent },
    ips: [...sandbox.ips],
  };
}

const CONTAINER_STATES: Readonly<Record<ContainerRecord['state'], number>> = {
  CONTAINER_CREATED: 1,
  CONTAINER_RUNNING: 3,
  CONTAINER_EXITED: 4,
  CONTAINER_UNKNOWN: 0,
};

/** api.proto's Container, as far as crion knows it: identity, state, command and environment. */
export function nriContainer(container: ContainerRecord): object {
  const config = container.config;
  return {
    id: container.id,
    podSandboxId: container.sandboxId,
    name: container.metadata.name,
    state: CONTAINER_STATES[container.state],
    labels: { ...config.labels },
    annotations: { ...config.annotations },
    args: [...config.command, ...config.args],
    env: config.envs.map((env) => `${env.key}=${env.value.toString('utf8')}`),
    pid: container.pid,
    createdAt: Number(BigInt(container.createdAt)),
    startedAt: container.startedAt === '0' ? 0 : Number(BigInt(container.startedAt)),
    finishedAt: container.finishedAt === '0' ? 0 : Number(BigInt(container.finishedAt)),
    exitCode: container.exitCode,
    image: { name: container.image },
  };
}
