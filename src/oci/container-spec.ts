import { InvalidArgumentError } from '../errors.js';
import type { ContainerConfig__Output } from '../generated/runtime/v1/ContainerConfig.js';
import type { ContainerDefaults } from '../image/manifest.js';
import { specAnnotations } from './annotations.js';
import { apparmorProfile } from './apparmor.js';
import { containerCapabilities } from './capabilities.js';
import { containerCgroupsPath } from './cgroups-path.js';
import { containerDevices } from './devices.js';
import { procPaths } from './masked-paths.js';
import { assembleMounts, defaultMounts, podFileMounts } from './mounts.js';
import { containerNamespaces, podNamespaceModes } from './namespaces.js';
import { processArgs, processCwd, processEnv } from './process.js';
import { ociResources, type ContainerLimits } from './resources.js';
import { seccompFor } from './seccomp.js';
import { profileRequest } from './security-profile.js';
import type { HandlerFeatures } from '../runtime/handler-features.js';
import type { HostFacts, HostLookups, SandboxContext } from './spec-inputs.js';
import { OCI_VERSION, type OciProcess, type OciResources, type OciSpec } from './spec-types.js';
import { podSysctls } from './sysctls.js';
import type { ResolvedUser } from './user.js';

export interface ContainerSpecInput {
  readonly containerId: string;
  /** CreateContainerRequest.config. */
  readonly config: ContainerConfig__Output;
  readonly sandbox: SandboxContext;
  /** The image's config: ENTRYPOINT, CMD, ENV, WORKDIR. */
  readonly image: ContainerDefaults;
  /** The image as the request named it, for the image-name annotation. */
  readonly imageName: string;
  /** The container's mounted root filesystem. */
  readonly rootfs: string;
  /** By CRI mount index: the host path each image mount binds (its image, or the sub-path inside it), already mounted. */
  readonly imageVolumeSources: ReadonlyMap<number, string>;
  /** From resolveUser, with the image's /etc/passwd and /etc/group. */
  readonly identity: ResolvedUser;
  /** /proc/<pid>/ns/pid of the target container when namespace_options.pid is TARGET, else null. */
  readonly targetPidNamespace: string | null;
  /** The request's linux.resources as this node can apply them, from containerLimits. */
  readonly limits: ContainerLimits;
  readonly host: HostFacts;
  /** What the pod's runtime handler can do, as probed at start. */
  readonly handler: HandlerFeatures;
  readonly lookups: HostLookups;
}

const SECCOMP = 'linux.security_context.seccomp';
const APPARMOR = 'linux.security_context.apparmor';

/**
 * The config.json of a container. Throws InvalidArgumentError when the
 * request contradicts itself or asks for something this node cannot give,
 * naming the CRI field; FailedPreconditionError when the node or the pod is
 * not in the state the request needs.
 */
export function containerSpec(input: ContainerSpecInput): OciSpec {
  const { config, sandbox, host } = input;
  const securityContext = config.linux?.securityContext ?? null;
  const privileged = securityContext?.privileged ?? false;
  if (privileged && sandbox.config.linux?.securityContext?.privileged !== true) {
    throw new InvalidArgumentError('linux.security_context.privileged is set but the pod sandbox is not privileged');
  }
  const modes = podNamespaceModes(sandbox.config);
  const hostNetwork = modes.network === 'NODE';
  const hostIpc = modes.ipc === 'NODE';
  const readonlyRootfs = securityContext?.readonlyRootfs ?? false;

  const capabilities = containerCapabilities(securityContext?.capabilities ?? null, privileged, host.capabilities);
  const seccomp = seccompFor({
    request: profileRequest(securityContext?.seccomp ?? null, securityContext?.seccompProfilePath ?? '', SECCOMP),
    privileged,
    capabilities: capabilities.bounding,
    arch: host.arch,
    support: host.seccomp,
    readProfile: (path) => input.lookups.readProfile(path),
    field: SECCOMP,
  });
  const apparmor = apparmorProfile(
    profileRequest(securityContext?.apparmor ?? null, securityContext?.apparmorProfile ?? '', APPARMOR),
    privileged,
    host.apparmor,
    APPARMOR,
  );
  const { limits } = input;
  const devices = containerDevices(config.devices, privileged, input.lookups);
  const { mounts, rootfsPropagation } = assembleMounts(
    defaultMounts(privileged),
    podFileMounts({ files: sandbox.files, hostIpc, readonly: readonlyRootfs }),
    {
      requested: config.mounts,
      recursiveReadOnly: input.handler.recursiveReadOnlyMounts,
      runtimeHandler: sandbox.runtimeHandler,
      realpath: (path) => input.lookups.realpath(path),
      imageSources: input.imageVolumeSources,
    },
  );
  const sysctls = podSysctls(sandbox.config.linux?.sysctls ?? {}, { hostNetwork, hostIpc });

  const process: OciProcess = {
    terminal: config.tty,
    user: { uid: input.identity.uid, gid: input.identity.gid, additionalGids: [...input.identity.additionalGids] },
    args: processArgs(config.command, config.args, input.image),
    env: processEnv({
      hostname: sandbox.config.hostname !== '' ? sandbox.config.hostname : host.hostname,
      tty: config.tty,
      image: input.image.env,
      requested: config.envs,
    }),
    cwd: processCwd(config.workingDir, input.image.workingDir),
    capabilities,
    noNewPrivileges: securityContext?.noNewPrivs ?? false,
  };
  if (host.defaultRlimits.length > 0) process.rlimits = host.defaultRlimits.map((rlimit) => ({ ...rlimit }));
  if (apparmor !== null) process.apparmorProfile = apparmor;
  if (limits.oomScoreAdj !== null) process.oomScoreAdj = limits.oomScoreAdj;

  const resources: OciResources = { devices: devices.rules, ...ociResources(limits) };

  const { maskedPaths, readonlyPaths } = procPaths(securityContext);
  const spec: OciSpec = {
    ociVersion: OCI_VERSION,
    process,
    root: { path: input.rootfs, readonly: readonlyRootfs },
    mounts,
    annotations: specAnnotations({
      sandboxId: sandbox.id,
      sandbox: sandbox.config,
      runtimeHandler: sandbox.runtimeHandler,
      imageName: input.imageName,
      containerName: config.metadata?.name ?? '',
      requested: config.annotations,
    }),
    linux: {
      namespaces: containerNamespaces({
        sandbox,
        options: securityContext?.namespaceOptions ?? null,
        targetPidNamespace: input.targetPidNamespace,
        privileged,
        cgroupLayout: host.cgroupLayout,
      }),
      devices: devices.devices,
      cgroupsPath: containerCgroupsPath(sandbox.config.linux?.cgroupParent ?? '', host.cgroupDriver, input.containerId),
      resources,
      maskedPaths,
      readonlyPaths,
    },
  };
  // The pod's hostname and sysctls live in namespaces that outlive any one container; each container's runtime sets
  // them again on entry, the same values every time, so they hold however the namespaces were set up.
  if (!hostNetwork && sandbox.config.hostname !== '') spec.hostname = sandbox.config.hostname;
  if (Object.keys(sysctls).length > 0) spec.linux.sysctl = sysctls;
  if (seccomp !== null) spec.linux.seccomp = seccomp;
  if (rootfsPropagation !== null) spec.linux.rootfsPropagation = rootfsPropagation;
  return spec;
}
