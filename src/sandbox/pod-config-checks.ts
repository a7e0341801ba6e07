import { stat } from 'node:fs/promises';
import { isIP } from 'node:net';
import path from 'node:path';
import { InvalidArgumentError } from '../errors.js';
import type { SandboxRequest } from './sandbox-manager.js';

/**
 * What a PodSandboxConfig must satisfy before RunPodSandbox touches the
 * host, so that a bad value is the client's INVALID_ARGUMENT naming its
 * field, never something half made, a file written somewhere it must not
 * be, or a value smuggled into a format that has its own separators.
 */

/** CNI_ARGS is `K=V;K=V`: a name holding either separator would add arguments of its own (`x;IP=10.0.0.9`). */
const CNI_ARGS_SEPARATORS = /[;=]/;
// eslint-disable-next-line no-control-regex -- control characters are what it looks for
const CONTROL = /[\x00-\x1f\x7f]/;
/** A resolv.conf word: the line is split on blanks, and a newline would start a line of the client's choosing. */
// eslint-disable-next-line no-control-regex -- control characters are what it excludes
const RESOLV_TOKEN = /^[^\s\x00-\x1f\x7f]+$/;
/** RFC 1123 labels joined by dots; the kernel takes 64 bytes. /etc/hosts gets it as one word. */
const HOSTNAME = /^[A-Za-z0-9_]([A-Za-z0-9_.-]{0,62}[A-Za-z0-9_])?$/;
/**
 * Pseudo-filesystems: a log file there would write to the kernel, and
 * making directories in them can loop (Node 20's recursive mkdir never
 * returns on /proc).
 */
const PSEUDO_FILESYSTEMS = ['/proc', '/sys', '/dev'];

export async function checkPodConfig(request: SandboxRequest): Promise<void> {
  checkMetadata(request);
  checkHostname(request.hostname);
  checkDns(request);
  checkPortMappings(request);
  if (request.network === 'TARGET' || request.ipc === 'TARGET') {
    throw new InvalidArgumentError('namespace mode TARGET applies to the PID namespace only');
  }
  await checkLogDirectory(request.logDirectory);
}

function checkMetadata({ metadata }: SandboxRequest): void {
  if (metadata.name === '' || metadata.namespace === '' || metadata.uid === '') {
    throw new InvalidArgumentError('PodSandboxConfig.metadata needs name, namespace and uid');
  }
  for (const field of ['name', 'namespace', 'uid'] as const) {
    const value = metadata[field];
    if (CNI_ARGS_SEPARATORS.test(value) || CONTROL.test(value)) {
      throw new InvalidArgumentError(`metadata.${field} ${JSON.stringify(value)} may not contain ";", "=" or control characters`);
    }
  }
}

function checkHostname(hostname: string): void {
  if (hostname !== '' && !HOSTNAME.test(hostname)) {
    throw new InvalidArgumentError(`hostname ${JSON.stringify(hostname)} is not a host name: up to 64 letters, digits, "-", "_" and "."`);
  }
}

function checkDns({ dns }: SandboxRequest): void {
  if (dns === null) return;
  dns.servers.forEach((server, index) => {
    if (isIP(server) === 0) throw new InvalidArgumentError(`dns_config.servers[${index}] ${JSON.stringify(server)} is not an IP address`);
  });
  for (const field of ['searches', 'options'] as const) {
    dns[field].forEach((value, index) => {
      if (!RESOLV_TOKEN.test(value)) {
        throw new InvalidArgumentError(
          `dns_config.${field}[${index}] ${JSON.stringify(value)} must be one word without blanks or control characters`,
        );
      }
    });
  }
}

function checkPortMappings({ portMappings }: SandboxRequest): void {
  portMappings.forEach((mapping, index) => {
    for (const field of ['hostPort', 'containerPort'] as const) {
      const port = mapping[field];
      if (!Number.isInteger(port) || port < 1 || port > 65535) {
        const name = field === 'hostPort' ? 'host_port' : 'container_port';
        throw new InvalidArgumentError(`port_mappings[${index}].${name} ${port} is not a port (1 to 65535)`);
      }
    }
    if (mapping.hostIP !== '' && isIP(mapping.hostIP) === 0) {
      throw new InvalidArgumentError(`port_mappings[${index}].host_ip ${JSON.stringify(mapping.hostIP)} is not an IP address`);
    }
  });
}

/** The log files of the pod's containers go below it; it need not exist yet (CreateContainer makes it). */
async function checkLogDirectory(logDirectory: string): Promise<void> {
  if (logDirectory === '') return;
  const field = `log_directory ${JSON.stringify(logDirectory)}`;
  if (!path.isAbsolute(logDirectory)) throw new InvalidArgumentError(`${field} must be an absolute path`);
  if (logDirectory.split('/').some((component) => component === '..' || component === '.')) {
    throw new InvalidArgumentError(`${field} may not contain "." or ".." components`);
  }
  const normalized = path.normalize(logDirectory);
  if (PSEUDO_FILESYSTEMS.some((top) => normalized === top || normalized.startsWith(`${top}/`))) {
    throw new InvalidArgumentError(`${field} is on a kernel pseudo-filesystem (${PSEUDO_FILESYSTEMS.join(', ')})`);
  }
  const existing = await stat(normalized).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return null;
    throw new InvalidArgumentError(`${field}: ${error.code ?? error.message}`, { cause: error });
  });
  if (existing !== null && !existing.isDirectory()) throw new InvalidArgumentError(`${field} is not a directory`);
}
