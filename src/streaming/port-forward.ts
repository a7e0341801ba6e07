import { Duplex } from 'node:stream';
import { RstStatus } from './spdy/frames.js';
import type { WebSocket } from 'ws';
import type { SpdySession, SpdyStream } from './spdy/session.js';
import { ChannelSocket, type ChannelProtocolError } from './websocket-channels.js';

/** Opens a TCP connection to `port` on the pod's loopback, inside the pod's network namespace. */
export type PodConnector = (port: number) => Promise<Duplex>;

export const PORT_FORWARD_SPDY_PROTOCOL = 'portforward.k8s.io';
/** WebSocket subprotocols: v4 channels, binary or base64; `portforward.k8s.io` is taken as binary too. */
export const PORT_FORWARD_WEBSOCKET_PROTOCOLS = ['v4.channel.k8s.io', 'v4.base64.channel.k8s.io', 'portforward.k8s.io'] as const;

/**
 * Copies both ways between the client's stream and the connection in the
 * pod. The client's end of input half-closes the pod connection; the pod
 * closing its side ends the forward, as in containerd. A failure on either
 * side tears both down.
 */
function join(client: Duplex, pod: Duplex, onEnd: () => void): void {
  let ended = false;
  const end = () => {
    if (ended) return;
    ended = true;
    onEnd();
  };
  client.pipe(pod);
  pod.pipe(client).once('finish', end);
  const fail = () => {
    client.destroy();
    pod.destroy();
    end();
  };
  client.on('error', fail);
  pod.on('error', fail);
  client.once('close', () => {
    if (!pod.writableFinished) pod.destroy();
  });
}

export function portFromHeader(value: string | undefined): number | null {
  if (value === undefined || !/^\d{1,5}$/.test(value)) return null;
  const port = Number(value);
  return port >= 1 && port <= 65535 ? port : null;
}

interface StreamPair {
  data?: SpdyStream;
  error?: SpdyStream;
  timer: NodeJS.Timeout;
}

/**
 * Port forward over SPDY: for each connection the client wants, it opens a
 * data and an error stream, both with the `port` and the same `requestID`.
 * A pair left incomplete for `timeoutMs` is refused on its error stream.
 */
export function servePortForwardSpdy(session: SpdySession, connect: PodConnector, timeoutMs: number, describe: (port: number) => string): void {
  const pairs = new Map<string, StreamPair>();
  session.on('stream', (stream: SpdyStream) => {
    const port = portFromHeader(stream.headers.get('port'));
    const type = stream.headers.get('streamtype');
    if (port === null || (type !== 'data' && type !== 'error')) {
      stream.reset(RstStatus.ProtocolError);
      return;
    }
    // Clients older than requestID numbered the pair by stream ID: error first, data two IDs later.
    const requestId = stream.headers.get('requestid') ?? String(type === 'error' ? stream.id : stream.id - 2);
    let pair = pairs.get(requestId);
    if (pair === undefined) {
      pair = {
        timer: setTimeout(() => {
          pairs.delete(requestId);
          pair?.error?.end(`timed out waiting for the data and error streams of request ${requestId}`);
          pair?.data?.reset(RstStatus.Cancel);
        }, timeoutMs),
      };
      pairs.set(requestId, pair);
    }
    if (pair[type] !== undefined) {
      stream.reset(RstStatus.ProtocolError);
      return;
    }
    stream.reply({});
    pair[type] = stream;
    if (pair.data === undefined || pair.error === undefined) return;
    clearTimeout(pair.timer);
    pairs.delete(requestId);
    void forward(pair.data, pair.error, port, connect, describe);
  });
  session.once('close', () => {
    for (const pair of pairs.values()) clearTimeout(pair.timer);
  });
}

async function forward(data: SpdyStream, error: SpdyStream, port: number, connect: PodConnector, describe: (port: number) => string): Promise<void> {
  // The client writes nothing on the error stream; reading it keeps its window open.
  error.resume();
  let pod: Duplex;
  try {
    pod = await connect(port);
  } catch (cause) {
    error.end(`error forwarding port ${port} to ${describe(port)}: ${cause instanceof Error ? cause.message : String(cause)}`);
    data.reset(RstStatus.Cancel);
    return;
  }
  join(data, pod, () => error.end());
}

/**
 * Port forward over a WebSocket: `?port=` names the ports, and port i gets
 * channel 2i for data and 2i+1 for errors, each opened by a message that
 * holds the port as a little-endian uint16. One connection per port.
 */
export function servePortForwardWebSocket(
  ws: WebSocket,
  ports: readonly number[],
  base64: boolean,
  connect: PodConnector,
  describe: (port: number) => string,
  onProtocolError: (error: ChannelProtocolError) => void,
): void {
  const readable = ports.flatMap(() => [true, false]);
  const channels = new ChannelSocket(ws, { base64, closeSignal: false, readable }, onProtocolError);
  let open = ports.length;
  const portDone = () => {
    if (--open === 0) ws.close(1000);
  };
  ports.forEach((port, index) => {
    const header = Buffer.alloc(2);
    header.writeUInt16LE(port);
    channels.send(2 * index, header);
    channels.send(2 * index + 1, header);
    connect(port).then(
      (pod) => join(duplexOf(channels, 2 * index), pod, portDone),
      (cause: unknown) => {
        const message = `error forwarding port ${port} to ${describe(port)}: ${cause instanceof Error ? cause.message : String(cause)}`;
        channels.output(2 * index + 1).write(message, portDone);
      },
    );
  });
}

function duplexOf(channels: ChannelSocket, channel: number): Duplex {
  return Duplex.from({ readable: channels.input(channel), writable: channels.output(channel) });
}
