import type { Metric } from '../generated/runtime/v1/Metric.js';
import type { PodSandboxMetrics } from '../generated/runtime/v1/PodSandboxMetrics.js';
import type { RuntimeServiceHandlers } from '../generated/runtime/v1/RuntimeService.js';
import { METRIC_DESCRIPTORS } from '../stats/metric-descriptors.js';
import type { MetricValue, PodMetrics } from '../stats/pod-metrics.js';
import { sendInChunks } from './list-stream.js';
import type { ServiceRpcs } from './services.js';

export interface MetricsRpcDeps {
  readonly metrics: { list(): Promise<PodMetrics[]> };
}

/**
 * ListMetricDescriptors, ListPodSandboxMetrics, StreamPodSandboxMetrics: the
 * kubelet's source for /metrics/cadvisor under PodAndContainerStatsFromCRI.
 * The stream sends the unary call's pods through `sendInChunks`.
 */
export function metricsRpcs(deps: MetricsRpcDeps): ServiceRpcs<RuntimeServiceHandlers> {
  const listPods = async () => (await deps.metrics.list()).map(criPodMetrics);
  return {
    async ListMetricDescriptors() {
      return { descriptors: METRIC_DESCRIPTORS.map(({ name, help, labelKeys }) => ({ name, help, labelKeys: [...labelKeys] })) };
    },

    async ListPodSandboxMetrics() {
      return { podMetrics: await listPods() };
    },

    async StreamPodSandboxMetrics(_request, sink) {
      await sendInChunks(await listPods(), sink, (podSandboxMetrics) => ({ podSandboxMetrics }));
    },
  };
}

function criPodMetrics(pod: PodMetrics): PodSandboxMetrics {
  return {
    podSandboxId: pod.podSandboxId,
    metrics: pod.metrics.map(criMetric),
    containerMetrics: pod.containerMetrics.map((container) => ({ containerId: container.containerId, metrics: container.metrics.map(criMetric) })),
  };
}

/** Timestamp 0: the values were read for this call, which the CRI asks a runtime to say so. */
function criMetric(metric: MetricValue): Metric {
  return {
    name: metric.name,
    timestamp: '0',
    metricType: metric.kind,
    labelValues: [...metric.labelValues],
    value: { value: metric.value.toString() },
  };
}
