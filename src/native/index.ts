// The rest of the daemon reaches the Rust addon only through this module.
export {
  probeHost,
  type CgroupLayout,
  type CgroupV1Controller,
  type CgroupV2Hierarchy,
  type Cgroups,
  type HostProbe,
  type HostProbeAddon,
  type MountApi,
  type OomScoreAdj,
  type Pidfd,
  type Support,
  type UserNamespaces,
} from './host-probe.js';
export { lockDirectory, type DirectoryLock, type DirectoryLockAddon } from './dir-lock.js';
export { pidAlive, watchExit, type ExitWatchAddon } from './exit-watch.js';
export { ADDON_PATH_ENV, loadAddon, NativeAddonLoadError, type LoadAttempt, type NativeAddon } from './load-addon.js';
export { NativeError } from './native-error.js';
export {
  mountOverlay,
  unmountOverlay,
  type OverlayMountAddon,
  type OverlayMountMethod,
  type OverlayMountRequest,
  type OverlayUnmountResult,
} from './overlay-mount.js';
export {
  createPodNamespaces,
  preparePrivateMountDir,
  removePodNamespaces,
  type PodNamespaces,
  type PodNamespacesAddon,
  type PodNamespacesRequest,
} from './pod-namespaces.js';
export { connectInNetns, NETNS_CONNECT_TIMEOUT_MS, type NetnsConnectAddon } from './netns-connect.js';
export { mountPodShm, unmountPodShm, type PodShmAddon } from './pod-shm.js';
export {
  nativeLayerUnpacker,
  unpackLayerNative,
  type LayerCompression,
  type LayerUnpackRequest,
  type LayerUnpackResult,
  type UnpackLayerAddon,
} from './unpack-layer.js';
export { openPty, setWindowSize, type PtyPair, type TerminalAddon } from './terminal.js';
export { MONITOR_PATH_ENV, monitorBinary } from './monitor-binary.js';
