import { finished } from 'node:stream/promises';
import type { Readable, Writable } from 'node:stream';
import type { CommandOutcome, RemoteCommandStreams, TerminalSize } from './remote-command.js';

/**
 * The container side of an exec or attach session: an exec'd command, or
 * the stdio of the container's main process that its monitor holds.
 */
export interface StreamedProcess {
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  resize(size: TerminalSize): void;
  /** How the session ends for the client: a command's exit code, or success once an attached container's output ends. */
  readonly outcome: Promise<CommandOutcome>;
  /** The client left: an exec'd command is killed, an attach session detaches (the container runs on). */
  stop(): Promise<void>;
  /** Attach ends when the client's stdin does; an exec'd command only sees its stdin close. */
  readonly endsWithStdin: boolean;
}

/**
 * Joins the client's streams to the process until it ends, then writes the
 * outcome on the error stream. Output goes out at the pace the client
 * reads it; stdin reaches the process at the pace it reads.
 */
export async function serveProcess(streams: RemoteCommandStreams, process: StreamedProcess, clientGone: Promise<void>): Promise<void> {
  let stopping: Promise<void> | null = null;
  let ended = false;
  // Once the process has ended there is nothing to stop: the client leaving afterwards is the normal end.
  const stop = () => (ended ? Promise.resolve() : (stopping ??= process.stop()));
  let gone = false;
  void clientGone.then(() => {
    gone = true;
    void stop();
  });
  streams.onResize((size) => process.resize(size));

  if (process.stdin !== null) {
    // A process that exits before reading all of stdin makes the pipe fail; that is its business.
    process.stdin.on('error', () => undefined);
    if (streams.stdin === null) process.stdin.end();
    else streams.stdin.pipe(process.stdin);
  }
  if (streams.stdin !== null) {
    streams.stdin.once('end', () => {
      if (process.endsWithStdin) void stop();
    });
    if (process.stdin === null) streams.stdin.resume();
  }

  const copies = [copy(process.stdout, streams.stdout), copy(process.stderr, streams.stderr)];
  let outcome: CommandOutcome;
  try {
    outcome = await process.outcome;
  } catch (error) {
    outcome = { error: error instanceof Error ? error.message : String(error) };
  }
  ended = true;
  await Promise.all(copies);
  // A client that left reads no status.
  if (!gone) await streams.writeStatus(outcome);
}

/** Output the client did not ask for is still read, so the process never blocks on it. */
async function copy(from: Readable | null, to: Writable | null): Promise<void> {
  if (from === null) {
    to?.end();
    return;
  }
  if (to === null) {
    from.resume();
    await finished(from).catch(() => undefined);
    return;
  }
  // A pty reports the end of its output as EIO; either way the client's stream ends with it.
  from.once('error', () => to.end());
  from.pipe(to);
  await Promise.all([finished(from).catch(() => undefined), finished(to, { readable: false }).catch(() => undefined)]);
}
