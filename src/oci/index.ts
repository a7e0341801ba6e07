// OCI runtime spec generation: pure functions from a CRI request, the pod and the node to a config.json.
export { runtimeHandlerOf } from './annotations.js';
export { ALL_CAPABILITIES, DEFAULT_CAPABILITIES, capabilitiesFromMask, containerCapabilities } from './capabilities.js';
export { cgroupDirOf, cgroupParentPath, containerCgroupsPath, podCgroupDir } from './cgroups-path.js';
export { containerSpec, type ContainerSpecInput } from './container-spec.js';
export { containerLimits, LIMIT_CONTROLLERS, ociResources, type ContainerLimits } from './resources.js';
export { DEFAULT_DEVICE_RULES } from './devices.js';
export { checkRecursiveReadOnlyMounts } from './mounts.js';
export { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS } from './masked-paths.js';
export { checkPodSpecValues, type PodSpecValues } from './pod-spec-checks.js';
export { sandboxSpec, type SandboxSpecInput } from './sandbox-spec.js';
export { compileSeccompPolicy, parseSeccompProfile, type HostArch, type SeccompPolicy, type SeccompRule, type SeccompSupport } from './seccomp.js';
export { DEFAULT_SECCOMP_POLICY } from './seccomp-default.js';
export { podSysctls } from './sysctls.js';
export type { HostDevice, HostFacts, HostLookups, PodNamespacePaths, SandboxContext, SandboxFiles } from './spec-inputs.js';
export * from './spec-types.js';
export { resolveUser, type ResolvedUser, type UserSecurityContext } from './user.js';
