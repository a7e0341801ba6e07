import type { SpdySession, SpdyStream } from './spdy/session.js';
import { RstStatus } from './spdy/frames.js';
import {
  statusBytes,
  supportsResize,
  TerminalSizeDecoder,
  type CommandOutcome,
  type RemoteCommandProtocol,
  type RemoteCommandStreams,
  type TerminalSize,
} from './remote-command.js';

export interface RequestedStreams {
  readonly stdin: boolean;
  readonly stdout: boolean;
  readonly stderr: boolean;
  readonly tty: boolean;
}

const STREAM_TYPES = ['error', 'stdin', 'stdout', 'stderr', 'resize'] as const;
type StreamType = (typeof STREAM_TYPES)[number];

export class StreamCreationTimeoutError extends Error {}

/**
 * Over SPDY the client opens one stream per `streamType`: error always,
 * then stdin, stdout, stderr as requested, and resize for a terminal from
 * v3 on. Each is answered at once; the session starts when all have come,
 * and the client gets `timeoutMs` to open them.
 */
export function collectSpdyStreams(
  session: SpdySession,
  requested: RequestedStreams,
  protocol: RemoteCommandProtocol,
  timeoutMs: number,
): Promise<RemoteCommandStreams> {
  const expected = new Set<StreamType>(['error']);
  if (requested.stdin) expected.add('stdin');
  if (requested.stdout) expected.add('stdout');
  if (requested.stderr) expected.add('stderr');
  if (requested.tty && supportsResize(protocol)) expected.add('resize');
  const streams = new Map<StreamType, SpdyStream>();

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      session.off('stream', onStream);
      reject(new StreamCreationTimeoutError(`the client opened ${streams.size} of its ${expected.size} streams within ${timeoutMs / 1000}s`));
    }, timeoutMs);
    const onStream = (stream: SpdyStream) => {
      const type = stream.headers.get('streamtype') as StreamType | undefined;
      if (type === undefined || !STREAM_TYPES.includes(type) || streams.has(type)) {
        stream.reset(RstStatus.ProtocolError);
        return;
      }
      stream.reply({});
      streams.set(type, stream);
      // A stream the request did not announce is still kept: clients of every version open error, and v1 clients open stdin regardless.
      if ([...expected].every((name) => streams.has(name))) {
        clearTimeout(timer);
        session.off('stream', onStream);
        resolve(remoteCommandStreams(streams, protocol));
      }
    };
    session.on('stream', onStream);
  });
}

function remoteCommandStreams(streams: Map<StreamType, SpdyStream>, protocol: RemoteCommandProtocol): RemoteCommandStreams {
  const error = streams.get('error')!;
  const resize = streams.get('resize');
  // v1 clients' stdin is closed by the server (Kubernetes' server did the same), so the command sees end of input.
  const stdin = protocol === 'channel.k8s.io' ? null : (streams.get('stdin') ?? null);
  if (stdin === null) streams.get('stdin')?.end();
  // What the client sends on the error stream means nothing; it is read so that its window never fills.
  error.resume();
  return {
    stdin,
    stdout: streams.get('stdout') ?? null,
    stderr: streams.get('stderr') ?? null,
    onResize(listener: (size: TerminalSize) => void) {
      if (resize === undefined) return;
      const decoder = new TerminalSizeDecoder(listener);
      resize.on('data', (chunk: Buffer) => decoder.push(chunk));
    },
    async writeStatus(outcome: CommandOutcome) {
      const bytes = statusBytes(protocol, outcome);
      await new Promise<void>((resolve) => {
        if (bytes === null) error.end(resolve);
        else error.end(bytes, resolve);
      });
      // The server never writes on the client's input streams, but a stream stays in the session until both sides
      // closed it: left open, they kept the connection (and the session count) after the client had gone.
      for (const input of [streams.get('stdin'), resize]) if (input !== undefined && !input.writableEnded) input.end();
    },
  };
}
