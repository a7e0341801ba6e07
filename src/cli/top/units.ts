/**
 * How `crion top` writes its figures: CPU in percent of one core as top and
 * `crictl stats` do (a container using two cores reads 200%), memory in
 * binary units as the kubelet's quantities are (Mi, Gi), and "-" for a
 * figure there is none of yet.
 */

export function formatCpu(nanoCores: number | null): string {
  if (nanoCores === null) return '-';
  const percent = nanoCores / 1e7;
  return `${percent.toFixed(percent < 100 ? 1 : 0)}%`;
}

const MEMORY_UNITS = ['B', 'Ki', 'Mi', 'Gi', 'Ti'];

export function formatMemory(bytes: number | null): string {
  if (bytes === null) return '-';
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < MEMORY_UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value}B` : `${value.toFixed(value < 10 ? 1 : 0)}${MEMORY_UNITS[unit]}`;
}
