import { chmod, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { claimUnixSocket } from '../cri/unix-socket.js';
import { FailedPreconditionError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { CrionMetrics } from './metrics-registry.js';

/**
 * The Prometheus endpoint: `GET /metrics` in the text exposition format on
 * `metrics.address`, and on `metrics.socket` as well when set (mode 0660,
 * as the CRI socket: a node agent in the runtime's group scrapes without a
 * TCP port). Any other path is 404.
 */

export interface MetricsServerOptions {
  /** host:port as `metrics.address` checked it: an IPv4 literal, or an IPv6 one in brackets. */
  readonly address: string;
  /** "" for none. */
  readonly socket: string;
  readonly metrics: Pick<CrionMetrics, 'scrape'>;
  readonly log: Logger;
}

const SOCKET_MODE = 0o660;

export class MetricsServer {
  private constructor(
    private readonly servers: readonly Server[],
    /** The TCP address served, with the port the kernel gave for port 0. */
    readonly url: string,
    private readonly socket: string,
  ) {}

  static async start(options: MetricsServerOptions): Promise<MetricsServer> {
    const handle = (request: IncomingMessage, response: ServerResponse) => void serve(options, request, response);
    const { host, port } = splitHostPort(options.address);
    const tcp = createServer(handle);
    await listen(tcp, { host, port }).catch((error: NodeJS.ErrnoException) => {
      throw new FailedPreconditionError(
        error.code === 'EADDRINUSE'
          ? `metrics.address ${options.address}: the port is already in use; free it or choose another`
          : `metrics.address ${options.address}: cannot listen: ${error.message}`,
        { cause: error },
      );
    });
    const servers = [tcp];
    if (options.socket !== '') {
      try {
        await claimUnixSocket(options.socket);
        const unix = createServer(handle);
        await listen(unix, { path: options.socket });
        servers.push(unix);
        await chmod(options.socket, SOCKET_MODE);
      } catch (error) {
        await closeAll(servers);
        throw error;
      }
    }
    const bound = tcp.address() as { address: string; port: number };
    const shownHost = bound.address.includes(':') ? `[${bound.address}]` : bound.address;
    return new MetricsServer(servers, `http://${shownHost}:${bound.port}/metrics`, options.socket);
  }

  async close(): Promise<void> {
    await closeAll(this.servers);
    if (this.socket !== '') await rm(this.socket, { force: true });
  }
}

async function serve(options: MetricsServerOptions, request: IncomingMessage, response: ServerResponse): Promise<void> {
  const path = new URL(request.url ?? '/', 'http://metrics').pathname;
  if (path !== '/metrics') {
    response.writeHead(404, { 'content-type': 'text/plain' }).end('not found; the metrics are at /metrics\n');
    return;
  }
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.writeHead(405, { allow: 'GET, HEAD' }).end();
    return;
  }
  try {
    const { contentType, text } = await options.metrics.scrape();
    response.writeHead(200, { 'content-type': contentType }).end(request.method === 'HEAD' ? undefined : text);
  } catch (error) {
    options.log.error({ err: error }, 'metrics scrape failed');
    response.writeHead(500, { 'content-type': 'text/plain' }).end('metrics scrape failed; see the daemon log\n');
  }
}

function splitHostPort(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(':');
  return { host: address.slice(0, colon).replace(/^\[(.*)\]$/, '$1'), port: Number(address.slice(colon + 1)) };
}

function listen(server: Server, at: { host: string; port: number } | { path: string }): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(at, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

async function closeAll(servers: readonly Server[]): Promise<void> {
  await Promise.all(
    servers.map((server) => {
      // A scraper's keep-alive connection would hold close() open.
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    }),
  );
}
