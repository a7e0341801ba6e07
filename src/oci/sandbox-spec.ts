import { InvalidArgumentError } from '../errors.js';
import type { ContainerDefaults } from '../image/manifest.js';
import { specAnnotations } from './annotations.js';
import { apparmorProfile } from './apparmor.js';
import { containerCapabilities } from './capabilities.js';
import { containerCgroupsPath } from './cgroups-path.js';
import { DEFAULT_DEVICE_RULES } from './devices.js';
import { DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS } from './masked-paths.js';
import { assembleMounts, defaultMounts, podFileMounts } from './mounts.js';
import { podNamespaceModes, sandboxNamespaces } from './namespaces.js';
import { processCwd, processEnv } from './process.js';
import { clampOomScoreAdj } from './resources.js';
import { seccompFor } from './seccomp.js';
import { profileRequest } from './security-profile.js';
import type { HostFacts, HostLookups, SandboxContext } from './spec-inputs.js';
import { OCI_VERSION, type OciProcess, type OciSpec } from './spec-types.js';
import { podSysctls } from './sysctls.js';
import type { ResolvedUser } from './user.js';

export interface SandboxSpecInput {
  readonly sandbox: SandboxContext;
  /** The infra (pause) image's config. */
  readonly image: ContainerDefaults;
  readonly imageName: string;
  readonly rootfs: string;
  /** From resolveUser with the pod's security context and the pause image's files. */
  readonly identity: ResolvedUser;
  readonly host: HostFacts;
  readonly lookups: Pick<HostLookups, 'readProfile'>;
}

const SECCOMP = 'linux.security_context.seccomp';
const APPARMOR = 'linux.security_context.apparmor';
/** The kubelet's score for infrastructure it must keep: the OOM killer picks it just before the kubelet itself. */
const INFRA_OOM_SCORE_ADJ = -998;
/** The infra process only waits; it should not weigh against the pod's containers. */
const INFRA_CPU_SHARES = 2;

/**
 * The config.json of a pod's infra process, which holds the pod's PID
 * namespace when the pod shares one. It runs the pause image read-only with
 * the pod's security context, inside the pod's network, IPC and UTS
 * namespaces and the pod's cgroup.
 */
export function sandboxSpec(input: SandboxSpecInput): OciSpec {
  const { sandbox, host } = input;
  const securityContext = sandbox.config.linux?.securityContext ?? null;
  const privileged = securityContext?.privileged ?? false;
  const modes = podNamespaceModes(sandbox.config);
  const hostNetwork = modes.network === 'NODE';
  const hostIpc = modes.ipc === 'NODE';

  const args = [...(input.image.entrypoint ?? []), ...(input.image.cmd ?? [])];
  if (args.length === 0) {
    throw new InvalidArgumentError(`the pod infra image ${input.imageName} has no ENTRYPOINT or CMD`);
  }
  const capabilities = containerCapabilities(null, privileged, host.capabilities);
  const seccomp = seccompFor({
    request: profileRequest(securityContext?.seccomp ?? null, securityContext?.seccompProfilePath ?? '', SECCOMP),
    privileged,
    capabilities: capabilities.bounding,
    arch: host.arch,
    support: host.seccomp,
    readProfile: (path) => input.lookups.readProfile(path),
    field: SECCOMP,
  });
  // The pod's security context has no legacy AppArmor string, only the message.
  const apparmorRequest = profileRequest(securityContext?.apparmor ?? null, '', APPARMOR);
  const apparmor = apparmorProfile(apparmorRequest, privileged, host.apparmor, APPARMOR);
  const { mounts } = assembleMounts(defaultMounts(privileged), podFileMounts({ files: sandbox.files, hostIpc, readonly: true }), null);
  const sysctls = podSysctls(sandbox.config.linux?.sysctls ?? {}, { hostNetwork, hostIpc });

  const process: OciProcess = {
    terminal: false,
    user: { uid: input.identity.uid, gid: input.identity.gid, additionalGids: [...input.identity.additionalGids] },
    args,
    env: processEnv({
      hostname: sandbox.config.hostname !== '' ? sandbox.config.hostname : host.hostname,
      tty: false,
      image: input.image.env,
      requested: [],
    }),
    cwd: processCwd('', input.image.workingDir),
    capabilities,
    // pause never executes anything, so nothing it runs may gain privileges either.
    noNewPrivileges: true,
    oomScoreAdj: clampOomScoreAdj(INFRA_OOM_SCORE_ADJ, host.oomScoreAdjFloor),
  };
  if (host.defaultRlimits.length > 0) process.rlimits = host.defaultRlimits.map((rlimit) => ({ ...rlimit }));
  if (apparmor !== null) process.apparmorProfile = apparmor;

  const spec: OciSpec = {
    ociVersion: OCI_VERSION,
    process,
    root: { path: input.rootfs, readonly: true },
    mounts,
    annotations: specAnnotations({
      sandboxId: sandbox.id,
      sandbox: sandbox.config,
      runtimeHandler: sandbox.runtimeHandler,
      imageName: input.imageName,
      containerName: null,
      requested: sandbox.config.annotations,
    }),
    linux: {
      namespaces: sandboxNamespaces(sandbox, host.cgroupLayout),
      devices: [],
      cgroupsPath: containerCgroupsPath(sandbox.config.linux?.cgroupParent ?? '', host.cgroupDriver, sandbox.id),
      resources: {
        devices: privileged ? [{ allow: true, access: 'rwm' }] : DEFAULT_DEVICE_RULES.map((rule) => ({ ...rule })),
        cpu: { shares: INFRA_CPU_SHARES },
      },
      maskedPaths: privileged ? [] : [...DEFAULT_MASKED_PATHS],
      readonlyPaths: privileged ? [] : [...DEFAULT_READONLY_PATHS],
    },
  };
  if (!hostNetwork && sandbox.config.hostname !== '') spec.hostname = sandbox.config.hostname;
  if (Object.keys(sysctls).length > 0) spec.linux.sysctl = sysctls;
  if (seccomp !== null) spec.linux.seccomp = seccomp;
  return spec;
}
