import test from 'ava';
import type { ContainerState } from '../../src/container/container-record.js';
import { CrionMetrics } from '../../src/metrics/metrics-registry.js';
import { parsePrometheusText } from '../helpers/prometheus-text.js';

/**
 * The metric families as the observers and the census feed them, read back
 * through the real Prometheus parser.
 */

function metricsWith(states: ContainerState[] = [], monitors = 0): CrionMetrics {
  return new CrionMetrics({ containers: () => states.map((state) => ({ state })), monitorsAlive: () => monitors });
}

async function scrape(metrics: CrionMetrics) {
  return parsePrometheusText((await metrics.scrape()).text);
}

test('every family is there before anything happens, the known label values at 0', async (t) => {
  const parsed = await scrape(metricsWith());
  for (const [name, type] of [
    ['crion_operations_latency_seconds', 'histogram'],
    ['crion_operations_errors', 'counter'],
    ['crion_image_pulls_bytes', 'counter'],
    ['crion_image_pulls_duration_seconds', 'histogram'],
    ['crion_image_pulls_failure', 'counter'],
    ['crion_image_pulls_layers', 'counter'],
    ['crion_containers', 'gauge'],
    ['crion_container_exits', 'counter'],
    ['crion_containers_oom', 'counter'],
    ['crion_container_monitors', 'gauge'],
    ['crion_containers_recovered', 'counter'],
    ['crion_streaming_sessions', 'gauge'],
    ['crion_process_cpu_seconds', 'counter'],
    ['crion_process_resident_memory_bytes', 'gauge'],
    ['crion_nodejs_eventloop_lag_seconds', 'gauge'],
  ]) {
    t.is(parsed.family(name!)?.type, type, name);
  }
  const exitReasons = parsed
    .family('crion_container_exits')!
    .samples.map((sample) => sample.labels.reason)
    .sort();
  t.deepEqual(exitReasons, ['Completed', 'Error', 'OOMKilled', 'StartError']);
  t.is(parsed.family('crion_streaming_sessions')!.samples.length, 3);
  t.true(parsed.value('crion_process_resident_memory_bytes') > 0);
});

test('a call is one latency observation under its RPC; a failure also counts under its code', async (t) => {
  const metrics = metricsWith();
  metrics.rpcs.finished('RunPodSandbox', 0.2, null);
  metrics.rpcs.finished('ContainerStatus', 0.001, 'NOT_FOUND');
  metrics.rpcs.finished('ContainerStatus', 0.002, 'NOT_FOUND');
  metrics.rpcs.finished('ContainerStatus', 0.001, null);
  const parsed = await scrape(metrics);
  t.is(parsed.value('crion_operations_latency_seconds_count', { operation: 'RunPodSandbox' }), 1);
  t.is(parsed.value('crion_operations_latency_seconds_bucket', { operation: 'RunPodSandbox', le: '0.1' }), 0);
  t.is(parsed.value('crion_operations_latency_seconds_bucket', { operation: 'RunPodSandbox', le: '0.25' }), 1);
  t.is(parsed.value('crion_operations_latency_seconds_count', { operation: 'ContainerStatus' }), 3);
  t.is(parsed.value('crion_operations_errors_total', { operation: 'ContainerStatus', code: 'NOT_FOUND' }), 2);
  t.is(parsed.value('crion_operations_errors_total', { operation: 'RunPodSandbox' }), 0);
});

test('pulls: layers reused and fetched, bytes of the fetched, durations of successes, failures by reason', async (t) => {
  const metrics = metricsWith();
  metrics.pulls.layerReused();
  metrics.pulls.layerFetched(1000);
  metrics.pulls.layerFetched(234);
  metrics.pulls.succeeded(1.5);
  metrics.pulls.failed('not-found');
  metrics.pulls.failed('not-found');
  metrics.pulls.failed('corrupt');
  const parsed = await scrape(metrics);
  t.is(parsed.value('crion_image_pulls_layers_total', { result: 'reused' }), 1);
  t.is(parsed.value('crion_image_pulls_layers_total', { result: 'fetched' }), 2);
  t.is(parsed.value('crion_image_pulls_bytes_total'), 1234);
  t.is(parsed.value('crion_image_pulls_duration_seconds_count'), 1);
  t.is(parsed.value('crion_image_pulls_duration_seconds_sum'), 1.5);
  t.is(parsed.value('crion_image_pulls_failure_total', { reason: 'not-found' }), 2);
  t.is(parsed.value('crion_image_pulls_failure_total', { reason: 'corrupt' }), 1);
});

test('containers by state and live monitors are read from the census at each scrape', async (t) => {
  let states: ContainerState[] = ['CONTAINER_RUNNING', 'CONTAINER_RUNNING', 'CONTAINER_EXITED'];
  let monitors = 2;
  const metrics = new CrionMetrics({ containers: () => states.map((state) => ({ state })), monitorsAlive: () => monitors });
  let parsed = await scrape(metrics);
  t.is(parsed.value('crion_containers', { state: 'running' }), 2);
  t.is(parsed.value('crion_containers', { state: 'exited' }), 1);
  t.is(parsed.value('crion_containers', { state: 'created' }), 0);
  t.is(parsed.value('crion_container_monitors'), 2);
  states = ['CONTAINER_EXITED'];
  monitors = 0;
  parsed = await scrape(metrics);
  t.is(parsed.value('crion_containers', { state: 'running' }), 0);
  t.is(parsed.value('crion_containers', { state: 'exited' }), 1);
  t.is(parsed.value('crion_container_monitors'), 0);
});

test('exits by reason, an OOM kill also in the OOM count; recoveries; streaming sessions up and down by kind', async (t) => {
  const metrics = metricsWith();
  metrics.exits.exited('Completed');
  metrics.exits.exited('OOMKilled');
  metrics.exits.exited('Error');
  metrics.exits.exited('Error');
  metrics.restores.recovered();
  metrics.streams.opened('exec');
  metrics.streams.opened('exec');
  metrics.streams.opened('port-forward');
  metrics.streams.closed('exec');
  const parsed = await scrape(metrics);
  t.is(parsed.value('crion_container_exits_total', { reason: 'Completed' }), 1);
  t.is(parsed.value('crion_container_exits_total', { reason: 'OOMKilled' }), 1);
  t.is(parsed.value('crion_container_exits_total', { reason: 'Error' }), 2);
  t.is(parsed.value('crion_containers_oom_total'), 1);
  t.is(parsed.value('crion_containers_recovered_total'), 1);
  t.is(parsed.value('crion_streaming_sessions', { kind: 'exec' }), 1);
  t.is(parsed.value('crion_streaming_sessions', { kind: 'port-forward' }), 1);
  t.is(parsed.value('crion_streaming_sessions', { kind: 'attach' }), 0);
});

test('two registries side by side do not share counts', async (t) => {
  const first = metricsWith();
  const second = metricsWith();
  first.restores.recovered();
  t.is((await scrape(first)).value('crion_containers_recovered_total'), 1);
  t.is((await scrape(second)).value('crion_containers_recovered_total'), 0);
});
