import type { CallLimits } from '../../cri/client.js';
import type { Container__Output } from '../../generated/runtime/v1/Container.js';
import type { ContainerStats__Output } from '../../generated/runtime/v1/ContainerStats.js';
import type { PodSandbox__Output } from '../../generated/runtime/v1/PodSandbox.js';

/**
 * What `crion top` shows at one moment: every pod the daemon lists, each
 * with its containers and their usage, joined from the three CRI listings
 * the kubelet reads too.
 */

/** The CRI calls a snapshot is made of (CriRuntimeClient's), so tests can hand in canned answers. */
export interface TopSource {
  listPods(limits: CallLimits): Promise<PodSandbox__Output[]>;
  listContainers(limits: CallLimits): Promise<Container__Output[]>;
  listContainerStats(limits: CallLimits): Promise<ContainerStats__Output[]>;
}

/** The daemon lists in milliseconds; one that takes this long is hung, and the refresh fails as DEADLINE_EXCEEDED instead of waiting. */
const LISTING_TIMEOUT_MS = 10_000;

export interface ContainerRow {
  readonly id: string;
  readonly name: string;
  /** CRI's state without its prefix: CREATED, RUNNING, EXITED, UNKNOWN. */
  readonly state: string;
  /** CPU time per second of wall time; null until the daemon has two samples, and for a container that is not running. */
  readonly nanoCores: number | null;
  /** Working set, the figure the kubelet evicts on; null for a container that is not running. */
  readonly memoryBytes: number | null;
  readonly restarts: number;
}

export interface PodGroup {
  readonly id: string;
  readonly name: string;
  readonly namespace: string;
  /** CRI's state without its prefix: READY, NOTREADY. */
  readonly state: string;
  readonly containers: readonly ContainerRow[];
  /** Sums over all the pod's containers, whichever of them a filter shows. */
  readonly nanoCores: number | null;
  readonly memoryBytes: number | null;
  readonly restarts: number;
}

export interface TopSnapshot {
  readonly at: Date;
  readonly pods: readonly PodGroup[];
}

export async function fetchSnapshot(source: TopSource, now: () => Date = () => new Date()): Promise<TopSnapshot> {
  const limits = { deadline: new Date(Date.now() + LISTING_TIMEOUT_MS) };
  const [pods, containers, stats] = await Promise.all([source.listPods(limits), source.listContainers(limits), source.listContainerStats(limits)]);
  return joinSnapshot(pods, containers, stats, now());
}

/** The annotation the kubelet records its restart count in; CRI's attempt usually equals it, but the kubelet's word wins. */
export const RESTART_COUNT_ANNOTATION = 'io.kubernetes.container.restartCount';

export function restartsOf(container: Pick<Container__Output, 'metadata' | 'annotations'>): number {
  const annotated = container.annotations[RESTART_COUNT_ANNOTATION];
  if (annotated !== undefined && /^\d+$/.test(annotated)) return Number(annotated);
  return container.metadata?.attempt ?? 0;
}

/**
 * Each pod with its containers. The kubelet keeps a restarted container's
 * previous attempt (exited, for its logs) beside the new one; only the
 * newest attempt of each name is shown, carrying the restart count. A
 * container listed before its pod (the listings race) waits for the next
 * refresh.
 */
export function joinSnapshot(
  pods: readonly PodSandbox__Output[],
  containers: readonly Container__Output[],
  stats: readonly ContainerStats__Output[],
  at: Date,
): TopSnapshot {
  const statsById = new Map(stats.map((entry) => [entry.attributes?.id ?? '', entry]));
  const newestByPod = new Map<string, Map<string, Container__Output>>();
  for (const container of containers) {
    const byName = newestByPod.get(container.podSandboxId) ?? new Map<string, Container__Output>();
    newestByPod.set(container.podSandboxId, byName);
    const name = container.metadata?.name ?? '';
    const shown = byName.get(name);
    if (shown === undefined || isNewer(container, shown)) byName.set(name, container);
  }
  return {
    at,
    pods: pods.map((pod) => {
      const rows = [...(newestByPod.get(pod.id)?.values() ?? [])].map((container) => containerRow(container, statsById.get(container.id)));
      return {
        id: pod.id,
        name: pod.metadata?.name ?? '',
        namespace: pod.metadata?.namespace ?? '',
        state: pod.state.replace(/^SANDBOX_/, ''),
        containers: rows,
        nanoCores: sumOf(rows.map((row) => row.nanoCores)),
        memoryBytes: sumOf(rows.map((row) => row.memoryBytes)),
        restarts: rows.reduce((total, row) => total + row.restarts, 0),
      };
    }),
  };
}

function isNewer(candidate: Container__Output, than: Container__Output): boolean {
  const attempts = (candidate.metadata?.attempt ?? 0) - (than.metadata?.attempt ?? 0);
  return attempts !== 0 ? attempts > 0 : BigInt(candidate.createdAt || '0') > BigInt(than.createdAt || '0');
}

function containerRow(container: Container__Output, stats: ContainerStats__Output | undefined): ContainerRow {
  const cpu = stats?.cpu?.usageNanoCores;
  const memory = stats?.memory?.workingSetBytes;
  return {
    id: container.id,
    name: container.metadata?.name ?? '',
    state: container.state.replace(/^CONTAINER_/, ''),
    nanoCores: cpu ? Number(cpu.value) : null,
    memoryBytes: memory ? Number(memory.value) : null,
    restarts: restartsOf(container),
  };
}

/** null when no part has a figure, so a pod of stopped containers reads "-" rather than 0. */
function sumOf(values: readonly (number | null)[]): number | null {
  const known = values.filter((value): value is number => value !== null);
  return known.length === 0 ? null : known.reduce((total, value) => total + value, 0);
}
