/**
 * The metrics ListPodSandboxMetrics reports, under the names, help texts
 * and labels cAdvisor gives them on the kubelet's /metrics/cadvisor: with
 * the PodAndContainerStatsFromCRI gate the kubelet serves them from there
 * as the runtime sends them. Its v1.37 collector passes label keys and
 * values through unchanged, so the runtime supplies the Kubernetes labels
 * too (namespace, pod, container), as CRI-O and containerd do; `id` is the
 * container's (or for pod-level metrics the pod's) ID, `image` the image
 * the container was created from.
 */

export type MetricKind = 'COUNTER' | 'GAUGE';

export interface MetricDescriptor {
  readonly name: string;
  readonly help: string;
  /** The base keys, then the metric's own. A metric's label values follow this order. */
  readonly labelKeys: readonly string[];
  readonly kind: MetricKind;
}

export const BASE_LABEL_KEYS = ['id', 'image', 'namespace', 'pod', 'container'] as const;

/** The `container` label of pod-level metrics (the network), as the kubelet's cAdvisor path names the pod's infra. */
export const POD_CONTAINER_LABEL = 'POD';

function counter(name: string, help: string, ...ownKeys: string[]): MetricDescriptor {
  return { name, help, labelKeys: [...BASE_LABEL_KEYS, ...ownKeys], kind: 'COUNTER' };
}

function gauge(name: string, help: string, ...ownKeys: string[]): MetricDescriptor {
  return { name, help, labelKeys: [...BASE_LABEL_KEYS, ...ownKeys], kind: 'GAUGE' };
}

/**
 * Every metric crion reports, by a key the collector refers to them by.
 * CRI carries values as unsigned integers: seconds are whole seconds,
 * truncated, as CRI-O reports them too.
 */
export const METRICS = {
  cpuUsage: counter('container_cpu_usage_seconds_total', 'Cumulative cpu time consumed in seconds.', 'cpu'),
  cpuUser: counter('container_cpu_user_seconds_total', 'Cumulative user cpu time consumed in seconds.'),
  cpuSystem: counter('container_cpu_system_seconds_total', 'Cumulative system cpu time consumed in seconds.'),
  cfsPeriods: counter('container_cpu_cfs_periods_total', 'Number of elapsed enforcement period intervals.'),
  cfsThrottledPeriods: counter('container_cpu_cfs_throttled_periods_total', 'Number of throttled period intervals.'),
  cfsThrottledSeconds: counter('container_cpu_cfs_throttled_seconds_total', 'Total time duration the container has been throttled.'),
  memoryUsage: gauge('container_memory_usage_bytes', 'Current memory usage in bytes, including all memory regardless of when it was accessed'),
  memoryWorkingSet: gauge('container_memory_working_set_bytes', 'Current working set in bytes.'),
  memoryRss: gauge('container_memory_rss', 'Size of RSS in bytes.'),
  memoryCache: gauge('container_memory_cache', 'Number of bytes of page cache memory.'),
  memoryMappedFile: gauge('container_memory_mapped_file', 'Size of memory mapped files in bytes.'),
  memorySwap: gauge('container_memory_swap', 'Container swap usage in bytes.'),
  memoryKernel: gauge('container_memory_kernel_usage', 'Size of kernel memory allocated in bytes.'),
  memoryMaxUsage: gauge('container_memory_max_usage_bytes', 'Maximum memory usage recorded in bytes'),
  memoryFailcnt: counter('container_memory_failcnt', 'Number of memory usage hits limits'),
  memoryFailures: counter('container_memory_failures_total', 'Cumulative count of memory allocation failures.', 'failure_type', 'scope'),
  oomEvents: counter('container_oom_events_total', 'Count of out of memory events observed for the container'),
  specMemoryLimit: gauge('container_spec_memory_limit_bytes', 'Memory limit for the container.'),
  specMemorySwapLimit: gauge('container_spec_memory_swap_limit_bytes', 'Memory swap limit for the container.'),
  specCpuShares: gauge('container_spec_cpu_shares', 'CPU share of the container.'),
  specCpuQuota: gauge('container_spec_cpu_quota', 'CPU quota of the container.'),
  specCpuPeriod: gauge('container_spec_cpu_period', 'CPU period of the container.'),
  processes: gauge('container_processes', 'Number of processes running inside the container.'),
  threads: gauge('container_threads', 'Number of threads running inside the container'),
  threadsMax: gauge('container_threads_max', 'Maximum number of threads allowed inside the container, infinity if value is zero'),
  fileDescriptors: gauge('container_file_descriptors', 'Number of open file descriptors for the container.'),
  sockets: gauge('container_sockets', 'Number of open sockets for the container.'),
  fsUsage: gauge('container_fs_usage_bytes', 'Number of bytes that are consumed by the container on this filesystem.'),
  fsLimit: gauge('container_fs_limit_bytes', 'Number of bytes that can be consumed by the container on this filesystem.'),
  fsInodesTotal: gauge('container_fs_inodes_total', 'Number of Inodes'),
  fsInodesFree: gauge('container_fs_inodes_free', 'Number of available Inodes'),
  fsReadsBytes: counter('container_fs_reads_bytes_total', 'Cumulative count of bytes read', 'device'),
  fsReads: counter('container_fs_reads_total', 'Cumulative count of reads completed', 'device'),
  fsWritesBytes: counter('container_fs_writes_bytes_total', 'Cumulative count of bytes written', 'device'),
  fsWrites: counter('container_fs_writes_total', 'Cumulative count of writes completed', 'device'),
  blkioDeviceUsage: counter('container_blkio_device_usage_total', 'Blkio Device bytes usage', 'device', 'major', 'minor', 'operation'),
  startTime: gauge('container_start_time_seconds', 'Start time of the container since unix epoch in seconds.'),
  lastSeen: gauge('container_last_seen', 'Last time a container was seen by the exporter'),
  networkReceiveBytes: counter('container_network_receive_bytes_total', 'Cumulative count of bytes received', 'interface'),
  networkReceivePackets: counter('container_network_receive_packets_total', 'Cumulative count of packets received', 'interface'),
  networkReceiveErrors: counter('container_network_receive_errors_total', 'Cumulative count of errors encountered while receiving', 'interface'),
  networkReceiveDropped: counter(
    'container_network_receive_packets_dropped_total',
    'Cumulative count of packets dropped while receiving',
    'interface',
  ),
  networkTransmitBytes: counter('container_network_transmit_bytes_total', 'Cumulative count of bytes transmitted', 'interface'),
  networkTransmitPackets: counter('container_network_transmit_packets_total', 'Cumulative count of packets transmitted', 'interface'),
  networkTransmitErrors: counter('container_network_transmit_errors_total', 'Cumulative count of errors encountered while transmitting', 'interface'),
  networkTransmitDropped: counter(
    'container_network_transmit_packets_dropped_total',
    'Cumulative count of packets dropped while transmitting',
    'interface',
  ),
} as const satisfies Record<string, MetricDescriptor>;

export type MetricKey = keyof typeof METRICS;

export const METRIC_DESCRIPTORS: readonly MetricDescriptor[] = Object.values(METRICS);
