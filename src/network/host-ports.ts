import dgram from 'node:dgram';
import net from 'node:net';
import { FailedPreconditionError } from '../errors.js';
import type { PortMapping } from './pod-networks.js';

/**
 * Host ports are held open by the daemon for as long as their pod has them,
 * as CRI-O does: portmap only writes DNAT rules, which would silently shadow
 * (or be shadowed by) a host process or another pod on the same port. The
 * DNAT rules catch the traffic before it reaches these sockets, so they
 * never see a connection; they exist to make the kernel refuse a second
 * owner. SCTP has no socket API in Node and is passed through unreserved.
 */

type HeldSocket = net.Server | dgram.Socket;

export class HostPortReservations {
  private readonly held = new Map<string, HeldSocket[]>();

  /** All of the pod's ports or none: a port in use releases those already taken and fails. */
  async reserve(sandboxId: string, mappings: readonly PortMapping[]): Promise<void> {
    const sockets: HeldSocket[] = [];
    try {
      for (const mapping of mappings) {
        const socket = await open(mapping);
        if (socket !== null) sockets.push(socket);
      }
    } catch (error) {
      await Promise.all(sockets.map(close));
      throw error;
    }
    if (sockets.length > 0) this.held.set(sandboxId, [...(this.held.get(sandboxId) ?? []), ...sockets]);
  }

  async release(sandboxId: string): Promise<void> {
    const sockets = this.held.get(sandboxId) ?? [];
    this.held.delete(sandboxId);
    await Promise.all(sockets.map(close));
  }

  /** For shutdown and tests. */
  async releaseAll(): Promise<void> {
    await Promise.all([...this.held.keys()].map((id) => this.release(id)));
  }
}

function open(mapping: PortMapping): Promise<HeldSocket | null> {
  const host = mapping.hostIP === '' ? '0.0.0.0' : mapping.hostIP;
  const where = `${mapping.hostPort}/${mapping.protocol} on ${host}`;
  const refused = (error: NodeJS.ErrnoException): Error =>
    error.code === 'EADDRINUSE'
      ? new FailedPreconditionError(`host port ${where} is already in use`)
      : new FailedPreconditionError(`cannot reserve host port ${where}: ${error.message}`);
  switch (mapping.protocol) {
    case 'tcp':
      return new Promise((resolve, reject) => {
        const server = net.createServer((socket) => socket.destroy());
        server.once('error', (error) => reject(refused(error)));
        // exclusive: a cluster worker must not share the port with the daemon's other processes.
        server.listen({ port: mapping.hostPort, host, exclusive: true }, () => {
          server.unref();
          resolve(server);
        });
      });
    case 'udp':
      return new Promise((resolve, reject) => {
        const socket = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
        socket.once('error', (error) => reject(refused(error)));
        socket.bind({ port: mapping.hostPort, address: host, exclusive: true }, () => {
          socket.unref();
          resolve(socket);
        });
      });
    default:
      return Promise.resolve(null);
  }
}

function close(socket: HeldSocket): Promise<void> {
  return new Promise((resolve) => socket.close(() => resolve()));
}
