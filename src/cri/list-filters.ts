import type { ContainerFilter } from '../container/container-manager.js';
import type { ContainerStateValue__Output } from '../generated/runtime/v1/ContainerStateValue.js';
import type { PodSandboxStateValue__Output } from '../generated/runtime/v1/PodSandboxStateValue.js';
import type { SandboxFilter } from '../sandbox/sandbox-manager.js';

/**
 * The filters of ListPodSandbox and ListPodSandboxStats: the stats one has no
 * state. Its `state` is a message, so unset is null (undefined where the
 * filter has no such field).
 */
export interface CriPodFilter {
  readonly id: string;
  readonly state?: PodSandboxStateValue__Output | null;
  readonly labelSelector: Readonly<Record<string, string>>;
}

/** The filters of ListContainers and ListContainerStats: the stats one has no state. */
export interface CriContainerFilter {
  readonly id: string;
  readonly podSandboxId: string;
  readonly state?: ContainerStateValue__Output | null;
  readonly labelSelector: Readonly<Record<string, string>>;
}

/**
 * A CRI pod filter in the sandbox manager's terms. proto3 strings cannot be
 * unset, so CRI's "" means "any", which the managers spell null; a request
 * without a filter lists everything (null). The result also serves as the
 * stats collector's PodStatsFilter, whose `state` is always null here.
 */
export function podListFilter(filter: CriPodFilter | null): SandboxFilter | null {
  if (filter === null) return null;
  return { id: anyIfEmpty(filter.id), state: filter.state?.state ?? null, labels: filter.labelSelector };
}

/** A CRI container filter in the container manager's (and stats collector's) terms, as podListFilter does for pods. */
export function containerListFilter(filter: CriContainerFilter | null): ContainerFilter | null {
  if (filter === null) return null;
  return {
    id: anyIfEmpty(filter.id),
    sandboxId: anyIfEmpty(filter.podSandboxId),
    state: filter.state?.state ?? null,
    labels: filter.labelSelector,
  };
}

function anyIfEmpty(value: string): string | null {
  return value === '' ? null : value;
}
