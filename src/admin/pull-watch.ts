import type { ServerResponse } from 'node:http';
import type { PullProgress, PullProgressBoard } from '../image/pull-progress.js';

/** A bar redrawn ten times a second is smooth; a line per 64 KiB chunk is not needed by anyone. */
const WATCH_INTERVAL_MS = 100;

/**
 * `GET /v1/pulls/watch`: NDJSON, the board and then every change until the
 * client hangs up. Sends every stage change at once and byte counts at most
 * every WATCH_INTERVAL_MS: a watcher must see each layer go through its
 * stages, but needs no line per 64 KiB chunk.
 */
export function streamPullChanges(board: PullProgressBoard, response: ServerResponse): void {
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
