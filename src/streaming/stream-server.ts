import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { isIPv6, type AddressInfo, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createWebSocketStream, WebSocketServer, type WebSocket } from 'ws';
import type { Logger } from '../log/logger.js';
import { chooseSpdyProtocol, chooseWebSocketProtocol, headerValues } from './negotiation.js';
import {
  PORT_FORWARD_SPDY_PROTOCOL,
  PORT_FORWARD_WEBSOCKET_PROTOCOLS,
  portFromHeader,
  servePortForwardSpdy,
  servePortForwardWebSocket,
  type PodConnector,
} from './port-forward.js';
import { collectSpdyStreams, type RequestedStreams } from './remote-command-spdy.js';
import { websocketStreams, WEBSOCKET_REMOTE_COMMAND_PROTOCOLS, type WebSocketRemoteCommandProtocol } from './remote-command-websocket.js';
import { REMOTE_COMMAND_PROTOCOLS, type RemoteCommandProtocol, type RemoteCommandStreams } from './remote-command.js';
import { SpdySession } from './spdy/session.js';
import { serveProcess, type StreamedProcess } from './streamed-process.js';
import type { StreamKind, StreamRequest, StreamRequests } from './stream-requests.js';

/** What the streaming server asks of the rest of the daemon, once a client has come with a valid token. */
export interface StreamTargets {
  exec(request: Extract<StreamRequest, { kind: 'exec' }>): Promise<StreamedProcess>;
  attach(request: Extract<StreamRequest, { kind: 'attach' }>): Promise<StreamedProcess>;
  /** Fails at once for a pod that is not ready; the connector then opens one connection per call. */
  portForward(podSandboxId: string): PodConnector;
}

/** Told as each session a valid token opened starts and as its connection closes (the metrics' gauge). */
export interface StreamSessionObserver {
  opened(kind: StreamKind): void;
  closed(kind: StreamKind): void;
}

export interface StreamServerOptions {
  readonly address: string;
  readonly port: number;
  readonly tls: { readonly certFile: string; readonly keyFile: string } | null;
  readonly requests: StreamRequests;
  readonly targets: StreamTargets;
  readonly idleTimeoutMs: number;
  readonly streamCreationTimeoutMs: number;
  readonly log: Logger;
  /** None by default. */
  readonly sessionObserver?: StreamSessionObserver;
}

/** The WebSocket subprotocol of SPDY tunnelled through a WebSocket, for port forward. */
const SPDY_TUNNEL_PROTOCOL = `SPDY/3.1+${PORT_FORWARD_SPDY_PROTOCOL}`;
const PATHS: Record<string, StreamKind> = { exec: 'exec', attach: 'attach', portforward: 'port-forward' };
const PATH_OF: Record<StreamKind, string> = { exec: 'exec', attach: 'attach', 'port-forward': 'portforward' };
/** How long a closing daemon lets sessions end on their own before cutting them. */
const CLOSE_GRACE_MS = 5000;

/**
 * The CRI streaming server: the URLs Exec, Attach and PortForward return
 * lead here, and the kubelet (or crictl, critest) upgrades the request to
 * SPDY/3.1 or a WebSocket. The token in the URL is the only credential, so
 * it is random, single-use and short-lived (`StreamRequests`).
 */
export class StreamServer {
  private readonly sessions = new Set<Duplex>();
  private readonly closers = new Set<() => void>();
  /** The subprotocol this server chose for each WebSocket request it upgrades, which ws then answers with. */
  private readonly chosenProtocols = new WeakMap<IncomingMessage, string>();
  private readonly tunnelRequests = new WeakSet<IncomingMessage>();
  private readonly websockets = new WebSocketServer({
    noServer: true,
    maxPayload: 16 * 1024 * 1024,
    handleProtocols: (_offered, request) => this.chosenProtocols.get(request) ?? false,
  });

  private constructor(
    private readonly server: Server,
    private readonly options: StreamServerOptions,
    readonly baseUrl: string,
  ) {}

  static async start(options: StreamServerOptions): Promise<StreamServer> {
    const server = options.tls === null ? createHttpServer() : createHttpsServer(await readTls(options.tls));
    server.listen(options.port, options.address);
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const host = isIPv6(options.address) ? `[${options.address}]` : options.address;
    const streamServer = new StreamServer(server, options, `${options.tls === null ? 'http' : 'https'}://${host}:${port}`);
    streamServer.websockets.on('headers', (headers: string[], request: IncomingMessage) => {
      if (streamServer.tunnelRequests.has(request)) headers.push(`Sec-WebSocket-Protocol: ${SPDY_TUNNEL_PROTOCOL}`);
    });
    server.on('request', (request: IncomingMessage, response: ServerResponse) => streamServer.refuse(request, response));
    server.on('upgrade', (request: IncomingMessage, socket: Socket, head: Buffer) => void streamServer.upgrade(request, socket, head));
    server.on('clientError', (_error, socket: Duplex) => socket.destroy());
    return streamServer;
  }

  /** The URL a client uses once for `request`. */
  urlFor(request: StreamRequest): string {
    return `${this.baseUrl}/${PATH_OF[request.kind]}/${this.options.requests.add(request)}`;
  }

  /** Stops taking connections, asks open sessions to end, and cuts those still open after a grace period. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const close of this.closers) close();
    const timer = setTimeout(() => {
      for (const socket of this.sessions) socket.destroy();
    }, CLOSE_GRACE_MS);
    this.server.closeAllConnections?.();
    await closed;
    clearTimeout(timer);
    this.websockets.close();
  }

  /** A plain request gets 404 on a path that is no stream URL and 400 on one that is; only an upgrade spends a token. */
  private refuse(request: IncomingMessage, response: ServerResponse): void {
    const route = parseRoute(request.url);
    response.writeHead(route === null ? 404 : 400, { 'Content-Type': 'text/plain' });
    response.end(route === null ? 'not found\n' : 'this URL needs an upgrade to SPDY/3.1 or a WebSocket\n');
  }

  private async upgrade(request: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    const route = parseRoute(request.url);
    const streamRequest = route === null ? null : this.options.requests.take(route.token, route.kind);
    if (route === null || streamRequest === null) return rejectUpgrade(socket, 404, 'Not Found', 'unknown or expired stream token');
    const upgrade = (request.headers.upgrade ?? '').toLowerCase();
    const log = this.options.log.child({
      stream: streamRequest.kind,
      ...('containerId' in streamRequest ? { containerId: streamRequest.containerId } : { podSandboxId: streamRequest.podSandboxId }),
    });
    this.track(socket, streamRequest.kind);
    this.closeWhenIdle(socket, log);
    try {
      if (upgrade === 'spdy/3.1') await this.serveSpdy(request, socket, head, streamRequest, log);
      else if (upgrade === 'websocket') await this.serveWebSocket(request, socket, head, streamRequest, route.search, log);
      else rejectUpgrade(socket, 400, 'Bad Request', `unsupported upgrade ${JSON.stringify(request.headers.upgrade ?? '')}`);
    } catch (error) {
      log.warn({ err: error }, 'stream session failed');
      socket.destroy();
    }
  }

  /** Traffic either way keeps a session open; ws clears socket timeouts as it upgrades, so this runs again after. */
  private closeWhenIdle(socket: Socket, log: Logger): void {
    socket.setTimeout(this.options.idleTimeoutMs, () => {
      log.info('closing a stream session idle for %ds', this.options.idleTimeoutMs / 1000);
      socket.destroy();
    });
  }

  private track(socket: Duplex, kind: StreamKind): void {
    this.sessions.add(socket);
    this.options.sessionObserver?.opened(kind);
    socket.once('close', () => {
      this.sessions.delete(socket);
      this.options.sessionObserver?.closed(kind);
    });
  }

  private async serveSpdy(request: IncomingMessage, socket: Socket, head: Buffer, streamRequest: StreamRequest, log: Logger): Promise<void> {
    const offered = headerValues(request, 'x-stream-protocol-version');
    const supported: readonly string[] = streamRequest.kind === 'port-forward' ? [PORT_FORWARD_SPDY_PROTOCOL] : REMOTE_COMMAND_PROTOCOLS;
    const protocol = chooseSpdyProtocol(offered, supported);
    if (protocol === null) {
      const message = `unable to upgrade: unable to negotiate protocol: client supports ${JSON.stringify(offered)}, server supports ${JSON.stringify(supported)}`;
      return rejectUpgrade(socket, 403, 'Forbidden', message, { 'X-Accepted-Stream-Protocol-Versions': supported.join(', ') });
    }
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n' +
        (protocol === '' ? '' : `X-Stream-Protocol-Version: ${protocol}\r\n`) +
        '\r\n',
    );
    const session = new SpdySession(socket, { initialBuffered: head });
    if (streamRequest.kind === 'port-forward') return this.serveSpdyPortForward(session, streamRequest.podSandboxId, log);
    session.on('error', (error: Error) => log.warn({ err: error }, 'closing a SPDY connection on a protocol error'));
    const closer = () => session.close();
    this.closers.add(closer);
    const clientGone = new Promise<void>((resolve) => session.once('close', () => resolve()));
    void clientGone.then(() => this.closers.delete(closer));
    const version = (protocol === '' ? 'channel.k8s.io' : protocol) as RemoteCommandProtocol;
    const streams = await collectSpdyStreams(session, requestedStreams(streamRequest), version, this.options.streamCreationTimeoutMs);
    await this.runCommand(streamRequest, streams, clientGone, log);
    session.close();
  }

  private async serveWebSocket(
    request: IncomingMessage,
    socket: Socket,
    head: Buffer,
    streamRequest: StreamRequest,
    search: URLSearchParams,
    log: Logger,
  ): Promise<void> {
    const offered = headerValues(request, 'sec-websocket-protocol');
    let ports: number[] = [];
    if (streamRequest.kind === 'port-forward' && offered.includes(SPDY_TUNNEL_PROTOCOL)) {
      return this.serveSpdyTunnel(request, socket, head, streamRequest.podSandboxId, log);
    }
    if (streamRequest.kind === 'port-forward' && streamRequest.ports.length > 0) {
      ports = [...streamRequest.ports];
    } else if (streamRequest.kind === 'port-forward') {
      // A PortForward call without ports leaves them to the client's query, which a direct client sends.
      const parsed = search.getAll('port').flatMap((value) => value.split(',').map((part) => portFromHeader(part)));
      if (parsed.length === 0 || parsed.includes(null))
        return rejectUpgrade(socket, 400, 'Bad Request', 'the query must name each port as port=N, 1 to 65535');
      ports = parsed as number[];
    }
    const supported: readonly string[] =
      streamRequest.kind === 'port-forward' ? PORT_FORWARD_WEBSOCKET_PROTOCOLS : WEBSOCKET_REMOTE_COMMAND_PROTOCOLS;
    const protocol = chooseWebSocketProtocol(offered, supported);
    if (protocol === null) {
      return rejectUpgrade(
        socket,
        400,
        'Bad Request',
        `requested protocol(s) are not supported: ${JSON.stringify(offered)}; supports ${JSON.stringify(supported)}`,
      );
    }
    if (protocol !== '') this.chosenProtocols.set(request, protocol);
    const ws = await new Promise<WebSocket>((resolve) => this.websockets.handleUpgrade(request, socket, head, resolve));
    this.closeWhenIdle(socket, log);
    const onProtocolError = (error: Error) => {
      log.warn({ err: error }, 'closing a WebSocket on a protocol error');
      ws.close(1002, error.message.slice(0, 120));
    };
    ws.on('error', (error) => log.warn({ err: error }, 'WebSocket error'));
    const closer = () => ws.close(1001, 'crion is shutting down');
    this.closers.add(closer);
    const clientGone = new Promise<void>((resolve) => ws.once('close', () => resolve()));
    void clientGone.then(() => this.closers.delete(closer));

    if (streamRequest.kind === 'port-forward') {
      servePortForwardWebSocket(
        ws,
        ports,
        protocol.includes('base64'),
        this.options.targets.portForward(streamRequest.podSandboxId),
        (port) => describePort(streamRequest.podSandboxId, port),
        onProtocolError,
      );
      return;
    }
    const streams = websocketStreams(ws, requestedStreams(streamRequest), protocol as WebSocketRemoteCommandProtocol, onProtocolError);
    await this.runCommand(streamRequest, streams, clientGone, log);
    ws.close(1000);
  }

  /**
   * client-go's WebSocket port-forward (crictl's and kubectl's, since 1.30)
   * tunnels the SPDY connection itself through the WebSocket, as binary
   * messages, instead of using channels.
   */
  private async serveSpdyTunnel(request: IncomingMessage, socket: Socket, head: Buffer, podSandboxId: string, log: Logger): Promise<void> {
    // ws refuses the subprotocol's '/' and '+' (not token characters), so it is taken off the request and answered by hand.
    delete request.headers['sec-websocket-protocol'];
    this.tunnelRequests.add(request);
    const ws = await new Promise<WebSocket>((resolve) => this.websockets.handleUpgrade(request, socket, head, resolve));
    this.closeWhenIdle(socket, log);
    const tunnel = createWebSocketStream(ws);
    tunnel.on('error', (error) => log.debug({ err: error }, 'SPDY tunnel closed'));
    const session = new SpdySession(tunnel);
    this.serveSpdyPortForward(session, podSandboxId, log);
  }

  private serveSpdyPortForward(session: SpdySession, podSandboxId: string, log: Logger): void {
    session.on('error', (error: Error) => log.warn({ err: error }, 'closing a SPDY connection on a protocol error'));
    const closer = () => session.close();
    this.closers.add(closer);
    session.once('close', () => this.closers.delete(closer));
    servePortForwardSpdy(session, this.options.targets.portForward(podSandboxId), this.options.streamCreationTimeoutMs, (port) =>
      describePort(podSandboxId, port),
    );
  }

  private async runCommand(
    request: Extract<StreamRequest, { kind: 'exec' | 'attach' }>,
    streams: RemoteCommandStreams,
    clientGone: Promise<void>,
    log: Logger,
  ): Promise<void> {
    let process: StreamedProcess;
    try {
      process = request.kind === 'exec' ? await this.options.targets.exec(request) : await this.options.targets.attach(request);
    } catch (error) {
      log.info({ err: error }, '%s could not start', request.kind);
      streams.stdout?.end();
      streams.stderr?.end();
      await streams.writeStatus({ error: error instanceof Error ? error.message : String(error) });
      return;
    }
    log.debug('%s session started', request.kind);
    await serveProcess(streams, process, clientGone);
    log.debug('%s session ended', request.kind);
  }
}

function requestedStreams(request: Extract<StreamRequest, { kind: 'exec' | 'attach' }>): RequestedStreams {
  // A terminal merges stderr into stdout, so a stderr stream would stay empty; Kubernetes' server drops it too.
  return { stdin: request.stdin, stdout: request.stdout, stderr: request.stderr && !request.tty, tty: request.tty };
}

function describePort(podSandboxId: string, port: number): string {
  return `localhost:${port} in pod ${podSandboxId}`;
}

function parseRoute(url: string | undefined): { kind: StreamKind; token: string; search: URLSearchParams } | null {
  const parsed = new URL(url ?? '/', 'http://streaming');
  const match = /^\/(exec|attach|portforward)\/([A-Za-z0-9_-]{1,64})$/.exec(parsed.pathname);
  if (match === null) return null;
  return { kind: PATHS[match[1]!]!, token: match[2]!, search: parsed.searchParams };
}

function rejectUpgrade(socket: Duplex, code: number, reason: string, message: string, headers: Record<string, string> = {}): void {
  const body = `${message}\n`;
  const lines = [
    `HTTP/1.1 ${code} ${reason}`,
    'Content-Type: text/plain; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
  ];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
}

async function readTls(tls: { certFile: string; keyFile: string }): Promise<{ cert: Buffer; key: Buffer }> {
  const [cert, key] = await Promise.all([readFile(tls.certFile), readFile(tls.keyFile)]);
  return { cert, key };
}
