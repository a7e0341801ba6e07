import { createServer, type Server } from 'node:http';
import { chmod, rm } from 'node:fs/promises';
import path from 'node:path';
import { claimUnixSocket, socketPathOf } from '../cri/unix-socket.js';
import { errorReply, type AdminReply } from './admin-routes.js';

/**
 * The daemon's own side channel for what CRI cannot carry (pull progress)
 * or does not show (the paths and processes behind a container, the
 * effective configuration): plain HTTP on a unix socket next to the CRI
 * socket, with the same permissions. Routes are admin-routes.ts's.
 */

/**
 * The admin socket sits beside the CRI socket and is named after it, so
 * the CLI finds it from the `--listen` it already takes, and instances side
 * by side do not collide: `/run/crion/crion.sock` → `/run/crion/crion-admin.sock`.
 */
export function adminSocketFor(listen: string): string {
  const socketPath = socketPathOf(listen);
  return path.join(path.dirname(socketPath), `${path.basename(socketPath, '.sock')}-admin.sock`);
}

export type AdminRouter = (method: string, url: string) => Promise<AdminReply>;

export class AdminServer {
  private constructor(
    private readonly server: Server,
    readonly socketPath: string,
  ) {}

  static async start(socketPath: string, route: AdminRouter): Promise<AdminServer> {
    await claimUnixSocket(socketPath);
    const server = createServer((request, response) => {
      void route(request.method ?? 'GET', request.url ?? '/')
        .catch((error: unknown) => errorReply(500, error instanceof Error ? error.message : String(error)))
        .then((reply) => {
          if ('stream' in reply) reply.stream(response);
          else response.writeHead(reply.status, reply.headers).end(reply.body);
        });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => resolve());
    });
    await chmod(socketPath, 0o660);
    return new AdminServer(server, socketPath);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await rm(this.socketPath, { force: true });
  }
}
