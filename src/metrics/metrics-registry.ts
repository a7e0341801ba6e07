import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RestoreObserver } from '../container/container-restore.js';
import { stateWord, type ContainerState } from '../container/container-record.js';
import type { ExitObserver, ExitReason } from '../container/exit-tracker.js';
import type { PullObserver } from '../image/puller.js';
import type { StreamKind } from '../streaming/stream-requests.js';
import type { StreamSessionObserver } from '../streaming/stream-server.js';

/**
 * crion's Prometheus metric families, named as CRI-O's
 * `container_runtime_crio_*` with `crion_` in place of the prefix, in a
 * registry of their own: prom-client's global one would mix in whatever
 * else the process registers, and tests build several side by side.
 *
 * The domain modules never see this class. Each declares the narrow
 * observer it reports to (RpcObserver, PullObserver, ExitObserver,
 * RestoreObserver, StreamSessionObserver) and the daemon hands it the
 * matching member here; what is a count of current objects (containers by
 * state, live monitors) is read from its owner at scrape time instead, so
 * it cannot drift.
 */

/** What the gauges read at scrape time. */
export interface MetricsCensus {
  /** The app containers, as ListContainers lists them. */
  containers(): ReadonlyArray<{ readonly state: ContainerState }>;
  /** crion-monitor processes alive now. */
  monitorsAlive(): number;
}

/** A call's outcome as the gRPC layer reports it; structurally its RpcObserver, so this module needs no gRPC. */
export interface RpcOutcomes {
  finished(rpcName: string, seconds: number, code: string | null): void;
}

const CONTAINER_STATES: readonly ContainerState[] = ['CONTAINER_CREATED', 'CONTAINER_RUNNING', 'CONTAINER_EXITED', 'CONTAINER_UNKNOWN'];
const EXIT_REASONS: readonly ExitReason[] = ['Completed', 'Error', 'OOMKilled', 'StartError'];
const STREAM_KINDS: readonly StreamKind[] = ['exec', 'attach', 'port-forward'];

/** From a cached ImageStatus (about a millisecond) to a pull or a stop with its grace period. */
const OPERATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const PULL_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

export class CrionMetrics {
  readonly registry = new Registry();
  readonly rpcs: RpcOutcomes;
  readonly pulls: PullObserver;
  readonly exits: ExitObserver;
  readonly restores: RestoreObserver;
  readonly streams: StreamSessionObserver;

  constructor(census: MetricsCensus) {
    const registers = [this.registry];
    // CPU, resident memory, heap, event loop lag, open descriptors: as CRI-O's Go collectors, under crion's prefix.
    collectDefaultMetrics({ register: this.registry, prefix: 'crion_' });

    const latency = new Histogram({
      name: 'crion_operations_latency_seconds',
      help: 'Latency of each CRI call by RPC, failed ones included; its _count is the number of calls.',
      labelNames: ['operation'],
      buckets: OPERATION_BUCKETS,
      registers,
    });
    const errors = new Counter({
      name: 'crion_operations_errors_total',
      help: 'CRI calls that failed, by RPC and gRPC status code.',
      labelNames: ['operation', 'code'],
      registers,
    });
    this.rpcs = {
      finished: (operation, seconds, code) => {
        latency.observe({ operation }, seconds);
        if (code !== null) errors.inc({ operation, code });
      },
    };

    const pullBytes = new Counter({
      name: 'crion_image_pulls_bytes_total',
      help: 'Bytes of image layers downloaded from registries (compressed, as sent).',
      registers,
    });
    const pullDuration = new Histogram({
      name: 'crion_image_pulls_duration_seconds',
      help: 'Duration of image pulls that succeeded; its _count is the number of them.',
      buckets: PULL_BUCKETS,
      registers,
    });
    const pullFailures = new Counter({
      name: 'crion_image_pulls_failure_total',
      help: 'Image pulls that failed, by reason: the error kind (not-found, unavailable, permission-denied, cancelled, …) or a refused layer.',
      labelNames: ['reason'],
      registers,
    });
    const pullLayers = new Counter({
      name: 'crion_image_pulls_layers_total',
      help: 'Layers of pulled images: reused from the store, or fetched from a registry.',
      labelNames: ['result'],
      registers,
    });
    pullLayers.inc({ result: 'reused' }, 0);
    pullLayers.inc({ result: 'fetched' }, 0);
    this.pulls = {
      layerReused: () => pullLayers.inc({ result: 'reused' }),
      layerFetched: (bytes) => {
        pullLayers.inc({ result: 'fetched' });
        pullBytes.inc(bytes);
      },
      succeeded: (seconds) => pullDuration.observe(seconds),
      failed: (reason) => pullFailures.inc({ reason }),
    };

    new Gauge({
      name: 'crion_containers',
      help: 'App containers by state (created, running, exited, unknown), as ListContainers lists them.',
      labelNames: ['state'],
      registers,
      collect() {
        const counts = new Map(CONTAINER_STATES.map((state) => [state, 0]));
        for (const { state } of census.containers()) counts.set(state, (counts.get(state) ?? 0) + 1);
        for (const [state, count] of counts) this.set({ state: stateWord(state) }, count);
      },
    });
    const exits = new Counter({
      name: 'crion_container_exits_total',
      help: "App container exits by ContainerStatus's reason: Completed, Error, OOMKilled, StartError.",
      labelNames: ['reason'],
      registers,
    });
    for (const reason of EXIT_REASONS) exits.inc({ reason }, 0);
    const ooms = new Counter({
      name: 'crion_containers_oom_total',
      help: 'App containers killed because they ran out of memory.',
      registers,
    });
    this.exits = {
      exited: (reason) => {
        exits.inc({ reason });
        if (reason === 'OOMKilled') ooms.inc();
      },
    };

    new Gauge({
      name: 'crion_container_monitors',
      help: 'crion-monitor processes alive, one per container not yet exited.',
      registers,
      collect() {
        this.set(census.monitorsAlive());
      },
    });
    const recovered = new Counter({
      name: 'crion_containers_recovered_total',
      help: "Containers this daemon's start found still under their monitors and took up again.",
      registers,
    });
    this.restores = { recovered: () => recovered.inc() };

    const sessions = new Gauge({
      name: 'crion_streaming_sessions',
      help: 'Streaming sessions open, by kind: exec, attach, port-forward.',
      labelNames: ['kind'],
      registers,
    });
    for (const kind of STREAM_KINDS) sessions.set({ kind }, 0);
    this.streams = {
      opened: (kind) => sessions.inc({ kind }),
      closed: (kind) => sessions.dec({ kind }),
    };
  }

  /** The exposition text of every family, with its content type. */
  async scrape(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }
}
