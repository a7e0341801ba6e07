import { InvalidArgumentError } from '../errors.js';

/**
 * The pod's sysctls (PodSandboxConfig.linux.sysctls). A sysctl is accepted
 * only if the kernel keeps it per namespace and the pod owns that
 * namespace: IPC ones need the pod's own IPC namespace and `net.*` its own
 * network namespace. Anything else would change the whole node, which a
 * pod must not do whatever the kubelet's allow list says.
 */

const FIELD = 'linux.sysctls';

/** Per-IPC-namespace sysctls (ipc/ipc_sysctl.c and ipc/mq_sysctl.c). */
const IPC_NAMES: ReadonlySet<string> = new Set(['kernel.sem']);
const IPC_PREFIXES: readonly string[] = ['kernel.shm', 'kernel.msg', 'fs.mqueue.'];

export interface PodNamespaceOwnership {
  readonly hostNetwork: boolean;
  readonly hostIpc: boolean;
}

/** The sysctls to put in linux.sysctl, with names in dotted form. */
export function podSysctls(sysctls: Readonly<Record<string, string>>, ownership: PodNamespaceOwnership): Record<string, string> {
  const result: Record<string, string> = {};
  for (const [raw, value] of Object.entries(sysctls).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const name = normalizeSysctlName(raw);
    if (!/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_/-]+)+$/.test(name)) {
      throw new InvalidArgumentError(`${FIELD}: "${raw}" is not a sysctl name`);
    }
    if (/[\n\0]/.test(value)) {
      throw new InvalidArgumentError(`${FIELD}: the value of ${name} contains a newline or NUL`);
    }
    if (IPC_NAMES.has(name) || IPC_PREFIXES.some((prefix) => name.startsWith(prefix))) {
      if (ownership.hostIpc) {
        throw new InvalidArgumentError(`${FIELD}: ${name} would change the node's IPC namespace (the pod uses host IPC)`);
      }
    } else if (name.startsWith('net.')) {
      if (ownership.hostNetwork) {
        throw new InvalidArgumentError(`${FIELD}: ${name} would change the node's network namespace (the pod uses host network)`);
      }
    } else {
      throw new InvalidArgumentError(`${FIELD}: ${name} is not namespaced; setting it would change the whole node`);
    }
    result[name] = value;
  }
  return result;
}

/**
 * The kubelet accepts `net/ipv4/ip_forward` as well as `net.ipv4.ip_forward`.
 * In the slash form a dot belongs to a name (`eno2.100`), so the two
 * separators swap, as Kubernetes' NormalizeName does.
 */
function normalizeSysctlName(name: string): string {
  const first = name.search(/[./]/);
  if (first === -1 || name[first] === '.') return name;
  return name.replace(/[./]/g, (separator) => (separator === '/' ? '.' : '/'));
}
