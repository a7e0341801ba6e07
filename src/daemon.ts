import { mkdir } from 'node:fs/promises';
import { Socket } from 'node:net';
import path from 'node:path';
import { AdminServer, adminSocketFor } from './admin/admin-server.js';
import { adminRoutes } from './admin/admin-routes.js';
import { imageRpcs } from './cri/image-rpcs.js';
import { CriServer } from './cri/server.js';
import { runtimeInfoRpcs } from './cri/runtime-info.js';
import { sandboxRpcs } from './cri/sandbox-rpcs.js';
import { metricsRpcs } from './cri/metrics-rpcs.js';
import { statsRpcs } from './cri/stats-rpcs.js';
import { streamingRpcs } from './cri/streaming-rpcs.js';
import { ImageManager } from './image/image-manager.js';
import { ImageStore } from './image/image-store.js';
import { LayerStore } from './image/layer-store.js';
import { loadAuthFile } from './image/auth.js';
import { Puller } from './image/puller.js';
import { PullProgressBoard } from './image/pull-progress.js';
import { DEFAULT_RETRY, RegistryClient } from './image/registry-client.js';
import { selectLayerUnpacker } from './image/unpack/index.js';
import { loadRegistriesConfig } from './image/registries-conf.js';
import {
  applyReloadableChanges,
  diffConfig,
  loadConfig,
  type ConfigOverrides,
  type ConfigSources,
  type CrionConfig,
  type StreamingConfig,
} from './config/index.js';
import { createLogger, type Logger } from './log/logger.js';
import { connectInNetns, lockDirectory, monitorBinary, preparePrivateMountDir, probeHost, watchExit } from './native/index.js';
import { ContainerManager, type ContainerRecord } from './container/container-manager.js';
import { nodeFacts, nodeLookups } from './container/node-facts.js';
import { nativeContainerHost } from './container/container-host.js';
import { OciRuntime } from './container/oci-runtime.js';
import { checkPodSpecValues, containerLimits, LIMIT_CONTROLLERS } from './oci/index.js';
import { containerRpcs } from './cri/container-rpcs.js';
import { containerEventRpcs } from './cri/container-events-rpc.js';
import { ContainerEvents, lifecycleFanOut } from './events/container-events.js';
import { LifecycleLog } from './events/lifecycle-log.js';
import { checkpointRpcs } from './cri/checkpoint-rpcs.js';
import { Criu } from './checkpoint/criu.js';
import { InvalidArgumentError, NotFoundError } from './errors.js';
import { applyPodCidr, defaultNetworkFor, initDefaultNetwork } from './network/default-network.js';
import { PodNetworks } from './network/pod-networks.js';
import { HandlerFeatureTable } from './runtime/handler-features.js';
import { runtimeVersion } from './runtime/handler-version.js';
import { resolveOciHandlers } from './runtime/oci-handlers.js';
import { resolveCgroupDriver } from './runtime/cgroup-driver.js';
import { nativeSandboxHost } from './sandbox/sandbox-host.js';
import { SandboxManager, type SandboxRecord } from './sandbox/sandbox-manager.js';
import { PodInits, podInitHierarchies } from './sandbox/pod-init.js';
import { NO_NRI } from './nri/nri-hooks.js';
import { NriPlugins } from './nri/nri-plugins.js';
import { packageVersion } from './package-info.js';
import { RecordStore } from './state/record-store.js';
import { cgroupHierarchies } from './stats/cgroup-usage.js';
import { PodMetricsCollector } from './stats/pod-metrics.js';
import { StatsCollector } from './stats/stats-collector.js';
import { WritableLayerUsage } from './stats/writable-layer-usage.js';
import { StreamRequests } from './streaming/stream-requests.js';
import { StreamServer } from './streaming/stream-server.js';
import { streamTargets } from './streaming/stream-targets.js';

/** How long in-flight calls may run after SIGTERM before they are cut. */
const SHUTDOWN_GRACE_MS = 10_000;

/** StopPodSandbox gives each container this long after its stop signal, as the kubelet's default grace. */
const POD_STOP_GRACE_SECONDS = 10;

/** A writable layer's size is walked at most this often; the kubelet asks every few seconds through several calls. */
const WRITABLE_LAYER_TTL_MS = 10_000;

export interface DaemonOptions {
  readonly sources: ConfigSources;
  readonly overrides: ConfigOverrides;
}

/**
 * The composition root: loads the configuration, probes the host, builds
 * every service with its dependencies passed in explicitly, and serves until
 * SIGTERM or SIGINT. Resolves once the server has shut down.
 */
export async function runDaemon(options: DaemonOptions): Promise<void> {
  let { config } = await loadConfig(options.sources, options.overrides);
  const log = createLogger(config.log);
  // Handlers go in before anything listens: a signal that arrives while the
  // daemon starts must still mean a clean stop, not Node's default exit.
  const stopSignal = new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  process.on('SIGHUP', () => {
    void reloadConfig(options, config, log).then((next) => {
      config = next;
    });
  });
  const hostProbe = await probeHost();
  log.info({ hostProbe }, 'host probed');

  await mkdir(config.root, { recursive: true, mode: 0o711 });
  await mkdir(config.state, { recursive: true, mode: 0o711 });
  // Before anything in them is read or swept: a second daemon on the same directories would undo the first's pods.
  const claims = [...new Set([config.root, config.state])].map((dir) => lockDirectory(dir));
  const cgroupDriver = await resolveCgroupDriver(config.runtime.cgroupDriver);
  const registries = await loadRegistriesConfig({ file: config.image.registriesConf, dir: config.image.registriesConfDir });
  const layers = await LayerStore.open(path.join(config.root, 'overlay'), log);
  const imageStore = await ImageStore.open(path.join(config.root, 'images'), layers, log);
  const images = new ImageManager({
    images: imageStore,
    layers,
    registries,
    pinnedPatterns: () => [config.image.pauseImage, ...config.image.pinnedImages],
    // Bound late: the container manager is built on the image manager, and RemoveImage comes only once both exist.
    containersUsing: (imageId) => containers.containersUsing(imageId),
  });
  const containerRecords = await RecordStore.open<ContainerRecord>(path.join(config.root, 'containers'), 'container.json', log);
  // Read at scrape time only, when the container manager below exists. Loaded only when enabled: prom-client and
  // the OpenTelemetry API it pulls in are about 10 MiB of RSS (Node 20) that a daemon without metrics never uses.
  const metrics = config.metrics.enabled
    ? new (await import('./metrics/metrics-registry.js')).CrionMetrics({
        containers: () => containers.list(null),
        // Infra containers' monitors too. An exited container's monitor is gone, whatever process its PID names now.
        monitorsAlive: () =>
          containerRecords
            .list()
            .filter((record) => record.state !== 'CONTAINER_EXITED' && record.monitorPid > 0 && nativeContainerHost.processAlive(record.monitorPid))
            .length,
      })
    : null;
  const pullProgress = new PullProgressBoard();
  const puller = new Puller({
    client: new RegistryClient({
      log,
      idleTimeoutMs: config.image.registryStallTimeoutSeconds * 1000,
      retry: { ...DEFAULT_RETRY, attempts: config.image.registryAttempts },
    }),
    registries,
    authFile: await loadAuthFile(config.image.authFile),
    layers,
    images: imageStore,
    unpack: selectLayerUnpacker(config.image.unpack),
    progress: pullProgress,
    maxConcurrentDownloads: config.image.maxConcurrentDownloads,
    maxLayerBytes: config.image.maxLayerBytes,
    observer: metrics?.pulls,
    log,
  });

  if (config.network.initDefaultNetwork) {
    const written = await initDefaultNetwork(defaultNetworkFor(config));
    if (written !== null) log.info({ file: written }, 'wrote the default CNI network');
  }
  // Getters, not values: a SIGHUP may move the config dir or pick another default network.
  const networks = new PodNetworks({
    configDir: () => config.network.cniConfigDir,
    pluginDirs: () => config.network.cniPluginDirs,
    defaultNetwork: () => config.network.defaultNetwork,
    log,
  });

  // Resolved once: RunPodSandbox refuses a handler the containers could never be created with.
  const handlers = await resolveOciHandlers(config.runtime.handlers);
  // Probed in the background: Status and CreateContainer await the handler they need, the start does not.
  const handlerFeatures = new HandlerFeatureTable(handlers, hostProbe.kernelRelease);
  void handlerFeatures.all().then((features) => log.info({ handlerFeatures: features }, 'runtime handler features probed'));
  const handlerProblem = (name: string): string | null => {
    const handler = handlers.find((candidate) => candidate.name === name);
    if (handler === undefined) return `runtime handler "${name}" is not configured`;
    if (handler.binary === null) return `runtime handler "${name}": its runtime ${handler.configuredPath} is not installed on this node`;
    return null;
  };

  // Bound late, as below: the snapshots read the stores the managers own, and events come only once the server runs.
  const containerEvents = new ContainerEvents({
    sandbox: (sandboxId) => sandboxes.get(sandboxId),
    containersOf: (sandboxId) => containers.listOf(sandboxId),
    queueSize: config.events.subscriberQueueSize,
    log: log.child({ component: 'container-events' }),
  });
  // Every transition goes to the event stream and to the operator's log; the stores are read once the managers exist.
  const lifecycle = lifecycleFanOut(
    containerEvents,
    new LifecycleLog({ sandbox: (sandboxId) => sandboxes.get(sandboxId), container: (containerId) => containers.find(containerId), log }),
  );

  // Bound late too: a plugin is synchronized with the pods and containers only once it connects, after the start.
  const nriPlugins = config.nri.enable
    ? new NriPlugins({
        socketPath: config.nri.socketPath,
        runtimeName: 'crion',
        runtimeVersion: packageVersion,
        snapshot: () => ({ pods: sandboxes.list(null), containers: containers.list(null) }),
        log: log.child({ component: 'nri' }),
      })
    : null;
  const nri = nriPlugins ?? NO_NRI;

  const podRuntimeDir = path.join(config.state, 'pods');
  // Namespace pins are bind mounts; a private parent keeps them from propagating into other mount namespaces.
  await preparePrivateMountDir(podRuntimeDir);
  // The systemd driver puts each container in a scope that only the OCI runtime asks systemd for: pause there.
  const pidHolder = cgroupDriver === 'cgroupfs' ? config.runtime.infraContainer : 'pause';
  if (pidHolder !== config.runtime.infraContainer) {
    log.info({ cgroupDriver }, 'pods that share a PID namespace get a pause container: the pod init needs the cgroupfs driver');
  }
  const sandboxes: SandboxManager = new SandboxManager({
    records: await RecordStore.open<SandboxRecord>(path.join(config.root, 'pods'), 'sandbox.json', log),
    runtimeDir: podRuntimeDir,
    host: nativeSandboxHost,
    // containers is built below; the infra calls only happen once the server runs.
    infra: {
      start: (sandbox) => containers.startInfra(sandbox, config.image.pauseImage),
      stop: (containerId) => containers.stop(containerId, 0),
      remove: (containerId) => containers.remove(containerId),
    },
    // Also under pause, for the inits of pods made before a change of runtime.infra_container.
    podInits: new PodInits({ binary: monitorBinary(), hierarchies: podInitHierarchies(hostProbe.cgroups), watchExit, log }),
    pidHolder,
    containers: {
      stopAllOf: (sandboxId) => containers.stopAllOf(sandboxId, POD_STOP_GRACE_SECONDS),
      removeAllOf: (sandboxId) => containers.removeAllOf(sandboxId),
    },
    network: networks,
    handlerProblem,
    defaultHandler: () => config.runtime.defaultHandler,
    checkSpecValues: (request) =>
      checkPodSpecValues(
        { sysctls: request.sysctls, cgroupParent: request.cgroupParent, hostNetwork: request.network === 'NODE', hostIpc: request.ipc === 'NODE' },
        cgroupDriver,
      ),
    checkResources: (resources) => void containerLimits(resources, host),
    events: lifecycle,
    nri,
    log,
  });

  const runtimes = (name: string): OciRuntime => {
    const handler = handlers.find((candidate) => candidate.name === name);
    // handlerProblem says why exactly when there is no handler or no binary.
    if (!handler?.binary) throw new NotFoundError(handlerProblem(name)!);
    return new OciRuntime({ name, binary: handler.binary, root: handler.root, extraArgs: cgroupDriver === 'systemd' ? ['--systemd-cgroup'] : [] });
  };
  const host = nodeFacts(hostProbe, config, cgroupDriver);
  const unreachable = LIMIT_CONTROLLERS.filter((controller) => !host.cgroupControllers.includes(controller));
  if (unreachable.length > 0) {
    log.info(
      { controllers: unreachable, cgroupLayout: host.cgroupLayout },
      "the OCI runtime's cgroup hierarchy lacks these controllers: their limits are left out",
    );
  }
  const criu = new Criu(config.runtime.criuPath);
  // Not awaited: the start need not wait for `criu check`, and the first checkpoint shares this probe.
  void criu.status().then((status) => {
    if (status.available) log.info({ criu: criu.path, version: status.version }, 'checkpoint and restore available');
    else log.warn({ criu: criu.path, reason: status.reason }, 'checkpoint and restore unavailable until CRIU works');
  });
  const containerRuntimeDir = path.join(config.state, 'c');
  const containers: ContainerManager = new ContainerManager({
    records: containerRecords,
    runtimeDir: containerRuntimeDir,
    sandboxes,
    images,
    layers,
    runtimes,
    monitorBinary: monitorBinary(),
    ensureImage: async (name) => images.find(name) ?? (await puller.pull(name, null)),
    host,
    handlerFeatures: (name) => handlerFeatures.of(name),
    lookups: nodeLookups,
    containerHost: nativeContainerHost,
    memoryInUse: async (containerId) => (await stats.container(containerId)).memory?.workingSetBytes ?? null,
    criu,
    events: lifecycle,
    nri,
    exitObserver: metrics?.exits,
    restoreObserver: metrics?.restores,
    log,
  });
  await containers.restore();
  // Only now: a running container's layers may belong to no image any more, and restore has just held them.
  await imageStore.collectUnusedLayers();
  const hierarchies = cgroupHierarchies(hostProbe.cgroups);
  const stats = new StatsCollector({
    containers,
    sandboxes,
    hierarchies,
    cgroupDriver,
    writableLayers: new WritableLayerUsage({ ttlMs: WRITABLE_LAYER_TTL_MS, maxConcurrentWalks: 2 }),
    layerFilesystem: layers.overlayDir,
    log,
  });
  const podMetrics = new PodMetricsCollector({ containers, sandboxes, stats, hierarchies, layerFilesystem: layers.overlayDir, log });
  await sandboxes.removeOrphans();
  await sandboxes.resumePods();

  await nriPlugins?.listen();

  const streamServer = await StreamServer.start({
    address: config.streaming.address,
    port: config.streaming.port,
    tls: streamingTls(config.streaming),
    requests: new StreamRequests(config.streaming.tokenTtlSeconds * 1000),
    targets: streamTargets({
      containers,
      sandboxes,
      connectInNetns: async (netns, port) => new Socket({ fd: await connectInNetns(netns, port), readable: true, writable: true }),
    }),
    idleTimeoutMs: config.streaming.idleTimeoutSeconds * 1000,
    streamCreationTimeoutMs: config.streaming.streamCreationTimeoutSeconds * 1000,
    log: log.child({ component: 'streaming' }),
    sessionObserver: metrics?.streams,
  });
  const server = await CriServer.start({
    listen: config.listen,
    log,
    runtime: {
      ...runtimeInfoRpcs({
        cgroupDriver,
        applyPodCidr: (podCidr) => applyPodCidr(config.network.cniConfigDir, podCidr),
        statusSource: () => ({
          defaultHandler: config.runtime.defaultHandler,
          handlers: config.runtime.handlers,
          networkReadiness: () => networks.readiness(),
          features: (name) => handlerFeatures.of(name),
          verboseInfo: () => ({ config, hostProbe, cgroupDriver, containerEvents: containerEvents.counters() }),
        }),
      }),
      ...sandboxRpcs({ sandboxes, containers }),
      ...containerRpcs({ containers }),
      ...containerEventRpcs({ events: containerEvents }),
      ...checkpointRpcs({ containers, pods: { sandboxes, containers, criu, log } }),
      ...streamingRpcs({ containers, sandboxes, urlFor: (request) => streamServer.urlFor(request) }),
      ...statsRpcs({ stats }),
      ...metricsRpcs({ metrics: podMetrics }),
    },
    image: imageRpcs({ images, puller }),
    observer: metrics?.rpcs,
  });
  const adminServer = await AdminServer.start(
    adminSocketFor(config.listen),
    adminRoutes({
      pulls: pullProgress,
      info: {
        config: () => config,
        hostProbe,
        cgroupDriver,
        handlers,
        runtimeVersion,
        defaultNetwork: () => networks.describeDefaultNetwork(),
        networkReadiness: () => networks.readiness(),
      },
      containers: {
        list: () => containers.list(null),
        bundleOf: (id) => containers.bundleOf(id),
        specOf: (id) => containers.specOf(id),
        pod: (id) => sandboxes.get(id),
      },
      pods: { list: () => sandboxes.list(null), containersOf: (id) => containers.listOf(id) },
    }),
  );
  const metricsServer =
    metrics === null
      ? null
      : await (
          await import('./metrics/metrics-server.js')
        ).MetricsServer.start({ address: config.metrics.address, socket: config.metrics.socket, metrics, log }).catch(async (error: unknown) => {
          // The start fails as a whole: nothing keeps serving for a daemon that is about to exit.
          await Promise.all([server.shutdown(0), adminServer.close(), streamServer.close()]);
          throw error;
        });
  log.info(
    {
      listen: config.listen,
      admin: adminServer.socketPath,
      streaming: streamServer.baseUrl,
      metrics: metricsServer === null ? null : { url: metricsServer.url, socket: config.metrics.socket || null },
      root: config.root,
      state: config.state,
      cgroupDriver,
    },
    'serving CRI',
  );

  const signal = await stopSignal;
  log.info({ signal }, 'shutting down');
  // A second signal means the operator will not wait for the grace period.
  process.once(signal, () => process.exit(1));
  // Event streams never end by themselves; ended here, they close with OK instead of holding the shutdown's grace period.
  containerEvents.close();
  const [outcome] = await Promise.all([server.shutdown(SHUTDOWN_GRACE_MS), adminServer.close(), streamServer.close(), metricsServer?.close()]);
  await networks.close();
  await nriPlugins?.close();
  for (const claim of claims) claim.release();
  log.info({ outcome }, 'stopped');
}

/** HTTPS needs both files; one without the other is a configuration mistake, not a reason to serve plain HTTP. */
function streamingTls(streaming: StreamingConfig): { certFile: string; keyFile: string } | null {
  const { tlsCertFile: certFile, tlsKeyFile: keyFile } = streaming;
  if (certFile === '' && keyFile === '') return null;
  if (certFile === '' || keyFile === '') throw new InvalidArgumentError('streaming.tls_cert_file and streaming.tls_key_file must be set together');
  return { certFile, keyFile };
}

/**
 * SIGHUP: re-reads the files (flags still win), applies what may change
 * while running and says what needs a restart. A broken file keeps the
 * running configuration: a typo must not take the node down.
 */
async function reloadConfig(options: DaemonOptions, running: CrionConfig, log: Logger): Promise<CrionConfig> {
  try {
    const { config: next, files } = await loadConfig(options.sources, options.overrides);
    const changes = diffConfig(running, next);
    const applied = applyReloadableChanges(running, next);
    // Logged before the level changes, so a move to a quieter level still says so.
    log.info({ files, changes }, 'config reloaded');
    if (applied.log.level !== running.log.level) log.level = applied.log.level;
    const needRestart = changes.filter((change) => !change.reloadable).map((change) => change.key);
    if (needRestart.length > 0) log.warn({ keys: needRestart }, 'these changes take effect only after a restart');
    return applied;
  } catch (error) {
    log.error({ err: error }, 'config reload failed; keeping the running configuration');
    return running;
  }
}
