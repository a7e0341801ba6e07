import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { InvalidArgumentError } from '../errors.js';
import { createPodNamespaces, NativeError, removePodNamespaces } from '../native/index.js';
import type { SandboxHost } from './sandbox-manager.js';

const run = promisify(execFile);

/**
 * The real host side of a sandbox: namespaces through the addon, the pod's
 * /dev/shm as a tmpfs through mount(8). A sysctl or hostname the request
 * got wrong is the client's error, not the runtime's.
 */
export const nativeSandboxHost: SandboxHost = {
  async createNamespaces(request) {
    try {
      return await createPodNamespaces({ ...request, sysctls: { ...request.sysctls } });
    } catch (error) {
      if (error instanceof NativeError && error.code === 'ERR_POD_NS_INVALID') {
        throw new InvalidArgumentError(error.message, { cause: error });
      }
      throw error;
    }
  },
  removeNamespaces: (dir) => removePodNamespaces(dir),
  async mountShm(target, sizeBytes) {
    await run('mount', ['-t', 'tmpfs', '-o', `mode=1777,size=${sizeBytes},nosuid,nodev,noexec`, 'shm', target]);
  },
  async unmount(target) {
    try {
      await run('umount', [target]);
    } catch (error) {
      // Not mounted (any more): stopping twice must succeed.
      if (!/not mounted|no mount point|No such file/.test(String((error as { stderr?: string }).stderr))) throw error;
    }
  },
};
