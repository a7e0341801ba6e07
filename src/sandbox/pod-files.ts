import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * The files every container of a pod bind-mounts: /etc/hostname,
 * /etc/hosts and /etc/resolv.conf. They live in the pod's state directory
 * so all containers see one copy, and the kubelet's DNS settings reach
 * each of them.
 */

export interface DnsSettings {
  readonly servers: readonly string[];
  readonly searches: readonly string[];
  readonly options: readonly string[];
}

export interface PodFiles {
  readonly hostname: string;
  readonly hosts: string;
  readonly resolvConf: string;
}

const HOST_RESOLV_CONF = '/etc/resolv.conf';

/**
 * The kubelet sends the pod's DNS settings; without any (a host-network pod
 * or a test client) the pod resolves names as the host does, as containerd
 * and CRI-O do.
 */
export function resolvConfFor(dns: DnsSettings | null, hostResolvConf: string): string {
  if (dns === null || (dns.servers.length === 0 && dns.searches.length === 0 && dns.options.length === 0)) {
    return hostResolvConf;
  }
  return [
    ...(dns.searches.length > 0 ? [`search ${dns.searches.join(' ')}`] : []),
    ...dns.servers.map((server) => `nameserver ${server}`),
    ...(dns.options.length > 0 ? [`options ${dns.options.join(' ')}`] : []),
  ]
    .map((line) => `${line}\n`)
    .join('');
}

export function hostsFor(hostname: string): string {
  return [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'fe00::0\tip6-mcastprefix',
    'fe00::1\tip6-allnodes',
    'fe00::2\tip6-allrouters',
    ...(hostname === '' ? [] : [`127.0.1.1\t${hostname}`]),
  ]
    .map((line) => `${line}\n`)
    .join('');
}

/**
 * Writes the three files into `dir` and returns their paths. Plain writes:
 * they are made once, before any container can read them, in the state
 * directory that a reboot empties, so neither a rename nor an fsync (which
 * cost RunPodSandbox milliseconds per file) would protect anything.
 */
export async function writePodFiles(dir: string, hostname: string, dns: DnsSettings | null): Promise<PodFiles> {
  const files: PodFiles = {
    hostname: path.join(dir, 'hostname'),
    hosts: path.join(dir, 'hosts'),
    resolvConf: path.join(dir, 'resolv.conf'),
  };
  const hostResolvConf = await readFile(HOST_RESOLV_CONF, 'utf8').catch(() => '');
  await Promise.all([
    writeFile(files.hostname, `${hostname}\n`),
    writeFile(files.hosts, hostsFor(hostname)),
    writeFile(files.resolvConf, resolvConfFor(dns, hostResolvConf)),
  ]);
  return files;
}
