import type { ContainerRow, PodGroup } from './snapshot.js';

/**
 * Which pods and containers `crion top` shows and in what order. Pods are
 * sorted by their totals and each pod's containers by their own figures,
 * so a pod stays one block under its header row.
 */

export type SortKey = 'cpu' | 'memory' | 'name' | 'restarts';

export const SORT_KEYS: readonly SortKey[] = ['cpu', 'memory', 'name', 'restarts'];

export interface Arrangement {
  readonly sortKey: SortKey;
  /** Shows what has it in its pod or container name, ignoring case; '' shows everything. */
  readonly filter: string;
}

/**
 * A pod whose name (or namespace/name) matches keeps all its containers; otherwise it
 * shows with just the containers whose names match, or not at all.
 */
export function arrange(pods: readonly PodGroup[], { sortKey, filter }: Arrangement): PodGroup[] {
  const needle = filter.toLowerCase();
  const matches = (text: string) => text.toLowerCase().includes(needle);
  const shown = pods.flatMap((pod) => {
    if (needle === '' || matches(`${pod.namespace}/${pod.name}`)) return [pod];
    const containers = pod.containers.filter((container) => matches(container.name));
    return containers.length > 0 ? [{ ...pod, containers }] : [];
  });
  const order = comparatorFor(sortKey);
  return shown.map((pod) => ({ ...pod, containers: [...pod.containers].sort(order) })).sort(order);
}

/** What pods and containers have alike. */
type Row = Pick<ContainerRow, 'name' | 'nanoCores' | 'memoryBytes' | 'restarts'>;

/** Figures sort largest first, as top does; a row without one (not running) sorts last; ties go by name. */
function comparatorFor(sortKey: SortKey): (a: Row, b: Row) => number {
  const byName = (a: Row, b: Row) => a.name.localeCompare(b.name);
  const descending = (figure: (row: Row) => number | null) => (a: Row, b: Row) => (figure(b) ?? -1) - (figure(a) ?? -1) || byName(a, b);
  switch (sortKey) {
    case 'cpu':
      return descending((row) => row.nanoCores);
    case 'memory':
      return descending((row) => row.memoryBytes);
    case 'restarts':
      return descending((row) => row.restarts);
    case 'name':
      return byName;
  }
}
