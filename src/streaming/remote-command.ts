import type { Readable, Writable } from 'node:stream';

/** A terminal size as the clients send it on the resize stream (JSON, one object per message). */
export interface TerminalSize {
  readonly width: number;
  readonly height: number;
}

/**
 * The remote command subprotocols, newest first. v2 fixed v1's stream
 * handling, v3 added the resize stream, v4 the JSON status with the exit
 * code, v5 (WebSocket only in Kubernetes' own server) the close signal for
 * one channel. Over SPDY a stream half-closes on its own, so v5 means v4
 * there: client-go's SPDY executor treats them alike.
 */
export const REMOTE_COMMAND_PROTOCOLS = [
  'v5.channel.k8s.io',
  'v4.channel.k8s.io',
  'v3.channel.k8s.io',
  'v2.channel.k8s.io',
  'channel.k8s.io',
] as const;
export type RemoteCommandProtocol = (typeof REMOTE_COMMAND_PROTOCOLS)[number];

export function supportsResize(protocol: RemoteCommandProtocol): boolean {
  return protocol !== 'v2.channel.k8s.io' && protocol !== 'channel.k8s.io';
}

/** v4 and later write a JSON status; earlier versions write only a failure's message. */
export function writesJsonStatus(protocol: RemoteCommandProtocol): boolean {
  return protocol === 'v4.channel.k8s.io' || protocol === 'v5.channel.k8s.io';
}

/** How a command or an attach session ended, as the client learns it on the error stream. */
export type CommandOutcome = { readonly exitCode: number } | { readonly error: string };

/**
 * The streams of one exec or attach session, whatever carried them (SPDY
 * streams or WebSocket channels). A stream the client did not ask for is
 * null.
 */
export interface RemoteCommandStreams {
  readonly stdin: Readable | null;
  readonly stdout: Writable | null;
  readonly stderr: Writable | null;
  /** Called for each size the client sends; null without a resize stream. */
  onResize(listener: (size: TerminalSize) => void): void;
  /** Reports the outcome on the error stream in the negotiated protocol's form. */
  writeStatus(outcome: CommandOutcome): Promise<void>;
}

/** The status document of v4 and later (a metav1.Status), which client-go turns into an exit code. */
export function statusDocument(outcome: CommandOutcome): object {
  if ('error' in outcome) {
    return { status: 'Failure', reason: 'InternalError', message: `Internal error occurred: ${outcome.error}`, code: 500 };
  }
  if (outcome.exitCode === 0) return { status: 'Success' };
  return {
    status: 'Failure',
    reason: 'NonZeroExitCode',
    message: `command terminated with non-zero exit code: error executing command, exit status ${outcome.exitCode}`,
    details: { causes: [{ reason: 'ExitCode', message: String(outcome.exitCode) }] },
  };
}

/** What goes on the error stream, or null when the protocol sends nothing (a success before v4). */
export function statusBytes(protocol: RemoteCommandProtocol, outcome: CommandOutcome): Buffer | null {
  if (writesJsonStatus(protocol)) return Buffer.from(JSON.stringify(statusDocument(outcome)));
  if ('error' in outcome) return Buffer.from(outcome.error);
  if (outcome.exitCode === 0) return null;
  return Buffer.from(`command terminated with non-zero exit code: error executing command, exit status ${outcome.exitCode}`);
}

/**
 * Reads the resize stream: a sequence of JSON objects with no separator
 * required between them (Go's json.Encoder adds a newline, but a decoder
 * must not rely on it). Sizes that are not positive integers are dropped.
 */
export class TerminalSizeDecoder {
  private pending = '';

  constructor(private readonly emit: (size: TerminalSize) => void) {}

  push(chunk: Buffer): void {
    this.pending += chunk.toString('utf8');
    // A client would never send a size this long; a runaway stream is cut rather than buffered.
    if (this.pending.length > 4096) this.pending = '';
    for (;;) {
      // Anything before an object is noise from a broken client, skipped rather than kept.
      const start = this.pending.indexOf('{');
      this.pending = start < 0 ? '' : this.pending.slice(start);
      const end = closingBrace(this.pending);
      if (end < 0) return;
      const text = this.pending.slice(0, end + 1);
      this.pending = this.pending.slice(end + 1);
      const size = parseSize(text);
      if (size !== null) this.emit(size);
    }
  }
}

function closingBrace(text: string): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{') depth++;
    else if (c === '}' && --depth === 0) return i;
  }
  return -1;
}

function parseSize(text: string): TerminalSize | null {
  try {
    const value = JSON.parse(text.trim()) as { Width?: unknown; Height?: unknown };
    const { Width: width, Height: height } = value;
    if (!isDimension(width) || !isDimension(height)) return null;
    return { width, height };
  } catch {
    return null;
  }
}

function isDimension(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value > 0 && value <= 0xffff;
}
