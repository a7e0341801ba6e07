import type { WebSocket } from 'ws';
import type { RequestedStreams } from './remote-command-spdy.js';
import { statusBytes, TerminalSizeDecoder, type CommandOutcome, type RemoteCommandProtocol, type RemoteCommandStreams } from './remote-command.js';
import { ChannelSocket, type ChannelProtocolError } from './websocket-channels.js';

/** The WebSocket subprotocols of remote command, by the client's names. */
export const WEBSOCKET_REMOTE_COMMAND_PROTOCOLS = [
  'v5.channel.k8s.io',
  'v4.channel.k8s.io',
  'v4.base64.channel.k8s.io',
  'channel.k8s.io',
  'base64.channel.k8s.io',
] as const;
export type WebSocketRemoteCommandProtocol = (typeof WEBSOCKET_REMOTE_COMMAND_PROTOCOLS)[number] | '';

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const ERROR = 3;
const RESIZE = 4;

/** The remote command version a WebSocket subprotocol speaks, once its framing (raw or base64) is set apart. */
function commandProtocol(protocol: WebSocketRemoteCommandProtocol): RemoteCommandProtocol {
  if (protocol === 'v5.channel.k8s.io') return 'v5.channel.k8s.io';
  if (protocol.startsWith('v4.')) return 'v4.channel.k8s.io';
  // Before v4 the WebSocket server always took resize messages, as v3 does over SPDY.
  return 'v3.channel.k8s.io';
}

/**
 * Remote command over a WebSocket: channel 0 stdin, 1 stdout, 2 stderr,
 * 3 error (the status), 4 resize. The server opens the session with an
 * empty message on the first output channel, which tells clients that it
 * speaks the channel protocol.
 */
export function websocketStreams(
  ws: WebSocket,
  requested: RequestedStreams,
  protocol: WebSocketRemoteCommandProtocol,
  onProtocolError: (error: ChannelProtocolError) => void,
): RemoteCommandStreams {
  const readable = [requested.stdin, false, false, false, true];
  const channels = new ChannelSocket(
    ws,
    { base64: protocol.includes('base64'), closeSignal: protocol === 'v5.channel.k8s.io', readable },
    onProtocolError,
  );
  channels.send(requested.stdout ? STDOUT : requested.stderr ? STDERR : ERROR, Buffer.alloc(0));
  const version = commandProtocol(protocol);
  return {
    stdin: requested.stdin ? channels.input(STDIN) : null,
    stdout: requested.stdout ? channels.output(STDOUT) : null,
    stderr: requested.stderr ? channels.output(STDERR) : null,
    onResize(listener) {
      const decoder = new TerminalSizeDecoder(listener);
      channels.input(RESIZE).on('data', (chunk: Buffer) => decoder.push(chunk));
    },
    async writeStatus(outcome: CommandOutcome) {
      const bytes = statusBytes(version, outcome);
      if (bytes !== null) {
        await new Promise<void>((resolve) => channels.output(ERROR).write(bytes, () => resolve()));
      }
    },
  };
}
