import { posix } from 'node:path';
import type { LogFormat, LogLevel } from '../log/logger.js';
import { indexSchema, section, setting, field, tableMap, type SchemaOf } from './schema.js';
import {
  absolutePath,
  absolutePathOrEmpty,
  autoOrBoolean,
  boolean,
  cidr,
  integer,
  hostPort,
  ipAddress,
  list,
  oneOf,
  stringCanonical,
  stringMatching,
} from './value-types.js';
import { unixEndpoint } from '../cri/unix-socket.js';

/**
 * The daemon's effective configuration. What each key means, its default,
 * what it accepts and whether SIGHUP applies it live is in CONFIG_SCHEMA below;
 * the compiler keeps the two in step.
 */
export interface CrionConfig {
  readonly root: string;
  readonly state: string;
  readonly listen: string;
  readonly log: LogConfig;
  readonly runtime: RuntimeConfig;
  readonly image: ImageConfig;
  readonly network: NetworkConfig;
  readonly streaming: StreamingConfig;
  readonly events: EventsConfig;
  readonly nri: NriConfig;
  readonly metrics: MetricsConfig;
}

export interface LogConfig {
  readonly level: LogLevel;
  readonly format: LogFormat;
}

export type CgroupDriver = 'auto' | 'cgroupfs' | 'systemd';

export interface RuntimeConfig {
  readonly defaultHandler: string;
  readonly cgroupDriver: CgroupDriver;
  readonly restrictOomScoreAdj: 'auto' | boolean;
  readonly tolerateMissingHugetlbController: boolean;
  readonly criuPath: string;
  readonly infraContainer: InfraContainerKind;
  readonly handlers: RuntimeHandlers;
}

/** What holds the PID namespace of a pod whose containers share one. */
export type InfraContainerKind = 'pod-init' | 'pause';

/** Keyed by RuntimeClass handler name. Built-in handlers can be changed but not removed, so they are always present. */
export interface RuntimeHandlers {
  readonly [name: string]: RuntimeHandler;
  readonly runc: RuntimeHandler;
  readonly crun: RuntimeHandler;
  readonly runsc: RuntimeHandler;
}

export interface RuntimeHandler {
  readonly path: string;
  readonly root: string;
}

export interface ImageConfig {
  readonly pauseImage: string;
  readonly registriesConf: string;
  readonly registriesConfDir: string;
  readonly authFile: string;
  readonly pinnedImages: readonly string[];
  readonly maxConcurrentDownloads: number;
  readonly maxLayerBytes: number;
  readonly registryStallTimeoutSeconds: number;
  readonly registryAttempts: number;
  readonly unpack: 'native' | 'js';
}

export interface NetworkConfig {
  readonly cniConfigDir: string;
  readonly cniPluginDirs: readonly string[];
  readonly defaultNetwork: string;
  readonly initDefaultNetwork: boolean;
  readonly defaultSubnet: string;
  readonly defaultBridge: string;
}

export interface StreamingConfig {
  readonly address: string;
  readonly port: number;
  readonly tlsCertFile: string;
  readonly tlsKeyFile: string;
  readonly tokenTtlSeconds: number;
  readonly idleTimeoutSeconds: number;
  readonly streamCreationTimeoutSeconds: number;
}

export interface EventsConfig {
  readonly subscriberQueueSize: number;
}

export interface NriConfig {
  readonly enable: boolean;
  readonly socketPath: string;
}

export interface MetricsConfig {
  readonly enabled: boolean;
  readonly address: string;
  readonly socket: string;
}

export const DEFAULT_CONFIG_FILE = '/etc/crion/crion.conf';
export const DEFAULT_CONFIG_DIR = '/etc/crion/crion.conf.d';

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const satisfies readonly LogLevel[];
const LOG_FORMATS = ['json', 'text'] as const satisfies readonly LogFormat[];

const HANDLER_NAME = /^[a-z0-9][a-z0-9._-]*$/;

const handlerName = stringMatching(`a handler name matching ${HANDLER_NAME.source}`, 'name', (value) => HANDLER_NAME.test(value));

const listenUrl = stringCanonical('"unix://" followed by an absolute path, or the absolute path alone', 'url', unixEndpoint);

const commandPath = stringMatching('a command name or an absolute path', 'path', (value) =>
  value.includes('/') ? posix.isAbsolute(value) : value !== '',
);

// CNI leaves network names free-form; the network code reports a name that matches no configuration.
const networkName = stringMatching('a CNI network name, or ""', 'name', () => true);

// The kernel's IFNAMSIZ leaves 15 characters; the bridge plugin passes the name to netlink as is.
const interfaceName = stringMatching('a network interface name (1-15 of a-z A-Z 0-9 _ . -)', 'name', (value) => /^[A-Za-z0-9_.-]{1,15}$/.test(value));

const imageReference = stringMatching('an image reference', 'image', (value) => /^[^\s*]+$/.test(value));

const pinnedImagePattern = stringMatching('an image name, or a prefix ending in "*"', 'image', (value) => /^[^\s*]+\*?$/.test(value));

export const CONFIG_SCHEMA: SchemaOf<CrionConfig> = {
  root: setting(absolutePath, '/var/lib/crion', 'Persistent data: images, containers and their metadata.'),
  state: setting(absolutePath, '/run/crion', 'State that must not outlive a reboot: sockets, mounts, exit files.'),
  listen: setting(listenUrl, 'unix:///run/crion/crion.sock', 'Socket where the kubelet reaches the CRI gRPC API.'),
  log: section('The daemon log.', {
    level: setting(oneOf(LOG_LEVELS), 'info', 'Least severe level that is written.', { reloadable: true }),
    // The logger's stream is built once and child loggers keep it, so a new format needs a restart.
    format: setting(oneOf(LOG_FORMATS), 'json', 'json for log collectors, text for people at a terminal.'),
  }),
  runtime: section('OCI runtimes that run the containers.', {
    defaultHandler: setting(handlerName, 'runc', 'Handler for pods whose RuntimeClass names none.', {
      check: (name, config) => (Object.hasOwn(config.runtime.handlers, name) ? null : `no [runtime.handlers.${name}] is configured`),
    }),
    cgroupDriver: setting(
      oneOf(['auto', 'cgroupfs', 'systemd']),
      'auto',
      "Cgroup manager; must match the kubelet's. auto picks systemd when /run/systemd/system exists, else cgroupfs.",
    ),
    restrictOomScoreAdj: setting(
      autoOrBoolean,
      'auto',
      'Clamp a requested oom_score_adj to what the daemon may set; auto clamps when it lacks CAP_SYS_RESOURCE.',
    ),
    tolerateMissingHugetlbController: setting(
      boolean,
      true,
      "Leave hugepage limits out of a container's spec when the OCI runtime's cgroup hierarchy has no hugetlb controller " +
        '(the kubelet sends one for every page size the kernel has); false refuses them with FAILED_PRECONDITION.',
    ),
    criuPath: setting(
      commandPath,
      'criu',
      'CRIU binary the OCI runtime checkpoints and restores containers with (its --criu): a command looked up on PATH, ' +
        'or an absolute path. Probed with `criu check` at start; checkpoint and restore answer FAILED_PRECONDITION while it fails.',
    ),
    infraContainer: setting(
      oneOf(['pod-init', 'pause']),
      'pod-init',
      "What holds the PID namespace of a pod whose containers share one: pod-init is crion-monitor's tiny init, started " +
        'in a few milliseconds with no privileges and an empty root; pause runs image.pause_image through the OCI runtime ' +
        'as containerd does. The systemd cgroup driver always uses pause, whose runtime places it in a systemd scope.',
    ),
    handlers: tableMap({
      doc: 'One table per RuntimeClass handler; add a [runtime.handlers.NAME] table to define another.',
      flag: 'runtime-handler',
      namePattern: HANDLER_NAME,
      entry: {
        path: field(commandPath, 'OCI runtime binary: a command looked up on PATH, or an absolute path.'),
        root: field(absolutePath, "Directory where the runtime keeps its containers' state (its --root)."),
      },
      defaults: {
        runc: { path: 'runc', root: '/run/runc' },
        crun: { path: 'crun', root: '/run/crun' },
        runsc: { path: 'runsc', root: '/run/runsc' },
      },
    }),
  }),
  image: section('Image pulls and storage.', {
    pauseImage: setting(imageReference, 'registry.k8s.io/pause:3.10', "Image whose container holds a pod's namespaces."),
    registriesConf: setting(
      absolutePath,
      '/etc/containers/registries.conf',
      'containers-registries.conf(5): mirrors, blocked and insecure registries, short-name search.',
    ),
    registriesConfDir: setting(absolutePath, '/etc/containers/registries.conf.d', 'Drop-in directory read after registries_conf.'),
    authFile: setting(absolutePathOrEmpty, '', "Registry credentials in the kubelet's config.json format, for pulls that carry none."),
    pinnedImages: setting(
      list(pinnedImagePattern),
      [],
      'Images the kubelet\'s image garbage collection must keep: exact names, or prefixes ending in "*".',
    ),
    maxConcurrentDownloads: setting(integer(1, 64), 6, 'Layer downloads in flight at once, across all pulls.'),
    maxLayerBytes: setting(
      integer(1024 * 1024, Number.MAX_SAFE_INTEGER),
      64 * 1024 ** 3,
      'Largest uncompressed size of one layer; a layer that inflates past it is refused as a decompression bomb.',
    ),
    registryStallTimeoutSeconds: setting(
      integer(1, 3600),
      60,
      'Longest silence from a registry, awaiting its answer or mid-body, before the request counts as failed and is ' +
        'tried again (registry_attempts). A pull whose callers have all gone stops at once, whatever this says.',
    ),
    registryAttempts: setting(
      integer(1, 20),
      4,
      'Tries of one registry request in all, the first included, when it fails in a way that may pass ' +
        '(a stall, a refused or reset connection, HTTP 429 or 5xx); backoff from 0.5 s, doubling up to 10 s.',
    ),
    unpack: setting(oneOf(['native', 'js']), 'native', 'Layer unpacker: native is the Rust addon, js the slower fallback for hosts without it.'),
  }),
  network: section('Pod networking through CNI.', {
    cniConfigDir: setting(absolutePath, '/etc/cni/net.d', 'Directory holding CNI network configurations.'),
    cniPluginDirs: setting(list(absolutePath), ['/opt/cni/bin', '/usr/lib/cni'], 'Directories searched in order for CNI plugin binaries.'),
    defaultNetwork: setting(networkName, '', 'CNI network that pods join; "" takes the first configuration in lexical order.'),
    initDefaultNetwork: setting(
      boolean,
      true,
      'Write a bridge network at start when cni_config_dir holds none, so a lone node works without a CNI add-on.',
    ),
    defaultSubnet: setting(cidr, '10.88.0.0/16', 'Subnet of the bridge network that init_default_network writes.'),
    defaultBridge: setting(interfaceName, 'crion0', 'Bridge device of the network that init_default_network writes.'),
  }),
  streaming: section('Server for exec, attach and port-forward streams, which the kubelet redirects clients to.', {
    address: setting(ipAddress, '127.0.0.1', 'IP address the streaming server binds.'),
    port: setting(integer(0, 65535), 0, 'TCP port of the streaming server; 0 picks a free port at start.'),
    tlsCertFile: setting(
      absolutePathOrEmpty,
      '',
      'PEM certificate chain of the streaming server; with tls_key_file it serves HTTPS, "" serves HTTP.',
    ),
    tlsKeyFile: setting(absolutePathOrEmpty, '', 'PEM private key of tls_cert_file.'),
    tokenTtlSeconds: setting(integer(1, 3600), 60, 'How long the URL an Exec, Attach or PortForward call returns stays usable; each URL works once.'),
    idleTimeoutSeconds: setting(integer(1, 7 * 24 * 3600), 4 * 3600, 'A stream with no traffic either way for this long is closed.'),
    streamCreationTimeoutSeconds: setting(
      integer(1, 3600),
      30,
      'How long a client has, after the upgrade, to open the streams its request announced.',
    ),
  }),
  events: section("The container event stream (GetContainerEvents), which the kubelet's EventedPLEG feature reads.", {
    subscriberQueueSize: setting(
      integer(1, 1_000_000),
      1024,
      'Events a subscriber may have waiting beyond what the connection buffers; one that falls further behind is ' +
        'dropped with RESOURCE_EXHAUSTED (the kubelet then relists and subscribes again), so a stalled client never ' +
        "holds the runtime up or grows the daemon's memory.",
    ),
  }),
  nri: section('NRI, the Node Resource Interface: plugins on a ttRPC socket told of each pod and container lifecycle event.', {
    // Off unless asked for (containerd 2 turns it on): crion tells plugins of events but applies no container
    // adjustments, so a resource plugin would fail every CreateContainer; and the default socket is shared by
    // every runtime on the node.
    enable: setting(
      boolean,
      false,
      'Serve NRI plugins on socket_path. A plugin may veto a RunPodSandbox or CreateContainer; ' +
        'a container adjustment or update it asks for is refused (FAILED_PRECONDITION), as crion cannot apply them.',
    ),
    socketPath: setting(absolutePath, '/var/run/nri/nri.sock', 'The unix socket NRI plugins connect to.'),
  }),
  metrics: section(
    'Prometheus metrics of the daemon itself (RPC latencies and errors, pulls, exits, streams, its own CPU and memory) at GET /metrics.',
    {
      // Off unless asked for, as CRI-O: an open TCP port is the operator's choice.
      enabled: setting(boolean, false, 'Serve the metrics on address, and on socket when set.'),
      address: setting(
        hostPort,
        '127.0.0.1:9090',
        'TCP address of the metrics endpoint; "0.0.0.0:9090" serves every interface. A port in use fails the start.',
      ),
      socket: setting(absolutePathOrEmpty, '', 'A unix socket (mode 0660) to serve the metrics on as well; "" for none.'),
    },
  ),
};

export const CONFIG_INDEX = indexSchema(
  `crion configuration. Read from ${DEFAULT_CONFIG_FILE} (or --config), then ${DEFAULT_CONFIG_DIR}/*.conf ` +
    '(or --config-dir) in lexical order; command-line flags override files, and a key left out keeps its default.',
  CONFIG_SCHEMA,
);
