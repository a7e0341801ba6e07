import { InvalidArgumentError } from '../errors.js';
import { createPodNamespaces, mountPodShm, NativeError, removePodNamespaces, unmountPodShm } from '../native/index.js';
import type { SandboxHost } from './sandbox-manager.js';

/**
 * The real host side of a sandbox: namespaces and the pod's /dev/shm
 * tmpfs, both through the addon. A sysctl or hostname the request got
 * wrong is the client's error, not the runtime's.
 */
/** A name that would reach the host, and a sysctl or hostname the kernel refused (EINVAL, ENOENT) for the pod's own namespaces. */
const CLIENT_ERRORS: ReadonlySet<string> = new Set(['ERR_POD_NS_INVALID', 'ERR_POD_NS_SYSCTL', 'ERR_POD_NS_HOSTNAME']);

export const nativeSandboxHost: SandboxHost = {
  async createNamespaces(request) {
    try {
      return await createPodNamespaces({ ...request, sysctls: { ...request.sysctls } });
    } catch (error) {
      if (error instanceof NativeError && CLIENT_ERRORS.has(error.code)) {
        throw new InvalidArgumentError(error.message, { cause: error });
      }
      throw error;
    }
  },
  removeNamespaces: (dir) => removePodNamespaces(dir),
  mountShm: (target, sizeBytes) => mountPodShm(target, sizeBytes),
  // Stopping twice must succeed: the addon treats nothing mounted as done.
  unmount: (target) => unmountPodShm(target),
};
