import { packageVersion } from '../package-info.js';
import type { CgroupDriver } from '../runtime/cgroup-driver.js';
import { reportRuntimeStatus, type RuntimeStatusSource } from '../runtime/runtime-status.js';
import type { RuntimeConfigResponse } from '../generated/runtime/v1/RuntimeConfigResponse.js';
import type { StatusRequest__Output } from '../generated/runtime/v1/StatusRequest.js';
import type { StatusResponse } from '../generated/runtime/v1/StatusResponse.js';
import type { VersionResponse } from '../generated/runtime/v1/VersionResponse.js';

/** The CRI version the kubelet's client speaks; containerd and CRI-O answer the same. */
const KUBELET_API_VERSION = '0.1.0';

export interface RuntimeInfoDeps {
  /** Read at each call, so a SIGHUP reload is seen at once. */
  readonly statusSource: () => RuntimeStatusSource;
  readonly cgroupDriver: CgroupDriver;
}

/** Version, Status and RuntimeConfig: what the kubelet asks before it runs anything. */
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
        features: { supplementalGroupsPolicy: false, userNamespacesHostNetwork: false, mountOptions: false },
        info: report.info ?? {},
      };
    },

    async RuntimeConfig(): Promise<RuntimeConfigResponse> {
      return { linux: { cgroupDriver: deps.cgroupDriver === 'systemd' ? 'SYSTEMD' : 'CGROUPFS' } };
    },
  };
}
