import { request } from 'node:http';
import { createInterface } from 'node:readline';
import type { PullProgress } from '../image/pull-progress.js';

/**
 * Follows the daemon's pull progress board (see progress-server.ts). Calls
 * `onUpdate` for every line until `stop` is called or the daemon hangs up.
 */
export function watchPulls(socketPath: string, onUpdate: (pull: PullProgress) => void): { stop(): void; ready: Promise<void> } {
  let stopRequest = () => {};
  const ready = new Promise<void>((resolve, reject) => {
    const call = request({ socketPath, path: '/v1/pulls/watch', method: 'GET' }, (response) => {
      if (response.statusCode !== 200) {
        reject(new Error(`progress socket ${socketPath} answered ${response.statusCode}`));
        response.resume();
        return;
      }
      resolve();
      // Hanging up is how a watcher stops; the abort that follows is expected, not a failure.
      response.on('error', () => undefined);
      const lines = createInterface({ input: response });
      lines.on('error', () => undefined);
      lines.on('line', (line) => {
        if (line !== '') onUpdate(JSON.parse(line) as PullProgress);
      });
    });
    call.on('error', reject);
    call.end();
    stopRequest = () => call.destroy();
  });
  return { ready, stop: () => stopRequest() };
}
