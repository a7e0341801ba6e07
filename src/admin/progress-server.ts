import { createServer, type Server, type ServerResponse } from 'node:http';
import { chmod, rm } from 'node:fs/promises';
import path from 'node:path';
import type { PullProgress, PullProgressBoard } from '../image/pull-progress.js';
import { claimUnixSocket, socketPathOf } from '../cri/unix-socket.js';

/**
 * The daemon's own side channel for what CRI cannot carry: pull progress.
 * Plain HTTP on a unix socket next to the CRI socket, same permissions.
 *
 *   GET /v1/pulls        JSON array of the pulls on the board
 *   GET /v1/pulls/watch  NDJSON: the board, then every change, until the client hangs up
 */

/**
 * The progress socket sits beside the CRI socket and is named after it, so
 * the CLI finds it from the `--listen` it already takes, and instances side
 * by side do not collide: `/run/crion/crion.sock` → `/run/crion/crion-progress.sock`.
 */
export function progressSocketFor(listen: string): string {
  const socketPath = socketPathOf(listen);
  return path.join(path.dirname(socketPath), `${path.basename(socketPath, '.sock')}-progress.sock`);
}

/** A bar redrawn ten times a second is smooth; a line per 64 KiB chunk is not needed by anyone. */
const WATCH_INTERVAL_MS = 100;

export class ProgressServer {
  private constructor(
    private readonly server: Server,
    readonly socketPath: string,
  ) {}

  static async start(socketPath: string, board: PullProgressBoard): Promise<ProgressServer> {
    await claimUnixSocket(socketPath);
    const server = createServer((request, response) => {
      if (request.method !== 'GET') {
        response.writeHead(405, { allow: 'GET' }).end();
      } else if (request.url === '/v1/pulls') {
        response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(board.snapshot()));
      } else if (request.url === '/v1/pulls/watch') {
        streamChanges(board, response);
      } else {
        response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => resolve());
    });
    await chmod(socketPath, 0o660);
    return new ProgressServer(server, socketPath);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await rm(this.socketPath, { force: true });
  }
}

/**
 * Sends every stage change at once and byte counts at most every
 * WATCH_INTERVAL_MS: a watcher must see each layer go through its stages,
 * but needs no line per 64 KiB chunk.
 */
function streamChanges(board: PullProgressBoard, response: ServerResponse): void {
  response.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
  // An empty board writes nothing yet; the watcher must still learn at once that it is connected.
  response.flushHeaders();
  const sent = new Map<number, PullProgress>();
  const pending = new Map<number, PullProgress>();
  const send = (pull: PullProgress) => {
    response.write(`${JSON.stringify(pull)}\n`);
    sent.set(pull.id, pull);
    pending.delete(pull.id);
  };
  for (const pull of board.snapshot()) send(pull);
  const timer = setInterval(() => [...pending.values()].forEach(send), WATCH_INTERVAL_MS);
  const unwatch = board.watch((pull) => {
    if (stagesDiffer(sent.get(pull.id), pull)) send(pull);
    else pending.set(pull.id, pull);
  });
  response.once('close', () => {
    clearInterval(timer);
    unwatch();
  });
}

function stagesDiffer(before: PullProgress | undefined, after: PullProgress): boolean {
  if (before === undefined || before.stage !== after.stage || before.layers.length !== after.layers.length) return true;
  return after.layers.some((layer, index) => layer.stage !== before.layers[index]?.stage);
}
