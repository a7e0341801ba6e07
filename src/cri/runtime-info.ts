import { packageVersion } from '../package-info.js';
import type { CgroupDriver } from '../runtime/cgroup-driver.js';
import { reportRuntimeStatus, type RuntimeStatusSource } from '../runtime/runtime-status.js';
import type { RuntimeConfigResponse } from '../generated/runtime/v1/RuntimeConfigResponse.js';
import type { StatusRequest__Output } from '../generated/runtime/v1/StatusRequest.js';
import type { StatusResponse } from '../generated/runtime/v1/StatusResponse.js';
import type { UpdateRuntimeConfigRequest__Output } from '../generated/runtime/v1/UpdateRuntimeConfigRequest.js';
import type { UpdateRuntimeConfigResponse } from '../generated/runtime/v1/UpdateRuntimeConfigResponse.js';
import type { RpcContext } from './rpc.js';
import type { VersionResponse } from '../generated/runtime/v1/VersionResponse.js';

/** The CRI version the kubelet's client speaks; containerd and CRI-O answer the same. */
const KUBELET_API_VERSION = '0.1.0';

export interface RuntimeInfoDeps {
  /** Read at each call, so a SIGHUP reload is seen at once. */
  readonly statusSource: () => RuntimeStatusSource;
  readonly cgroupDriver: CgroupDriver;
  /** Applies the node's pod CIDR to the network crion manages; says what it did. */
  readonly applyPodCidr: (podCidr: string) => Promise<'updated' | 'unchanged' | 'not-ours'>;
}

/** Version, Status, RuntimeConfig and UpdateRuntimeConfig: what the kubelet asks before it runs anything. */
export function runtimeInfoRpcs(deps: RuntimeInfoDeps) {
  return {
    async Version(): Promise<VersionResponse> {
      return {
        version: KUBELET_API_VERSION,
        runtimeName: 'crion',
        runtimeVersion: packageVersion,
        runtimeApiVersion: 'v1',
      };
    },

    async Status(request: StatusRequest__Output): Promise<StatusResponse> {
      const report = await reportRuntimeStatus(deps.statusSource(), request.verbose);
      return {
        status: { conditions: [...report.conditions] },
        runtimeHandlers: report.handlers.map(({ name, ...features }) => ({ name, features })),
        features: { supplementalGroupsPolicy: true, userNamespacesHostNetwork: false, mountOptions: false },
        info: report.info ?? {},
      };
    },

    async UpdateRuntimeConfig(request: UpdateRuntimeConfigRequest__Output, context: RpcContext): Promise<UpdateRuntimeConfigResponse> {
      const podCidr = request.runtimeConfig?.networkConfig?.podCidr ?? '';
      // The kubelet sends its config on every sync, with an empty CIDR until the node has one.
      if (podCidr === '') return {};
      const outcome = await deps.applyPodCidr(podCidr);
      if (outcome === 'updated') context.log.info({ podCidr }, 'pod CIDR applied to the default network');
      if (outcome === 'not-ours') context.log.debug({ podCidr }, 'pod CIDR left to the network config crion did not write');
      return {};
    },

    async RuntimeConfig(): Promise<RuntimeConfigResponse> {
      return { linux: { cgroupDriver: deps.cgroupDriver === 'systemd' ? 'SYSTEMD' : 'CGROUPFS' } };
    },
  };
}
