import { request } from 'node:http';
import { createInterface } from 'node:readline';
import { DaemonUnreachableError, unreachableReason } from '../cri/client.js';
import type { PullProgress } from '../image/pull-progress.js';

/** The CLI's side of the daemon's admin socket (admin-server.ts, routes in admin-routes.ts). */

/** A route's answer: its status and its body, parsed when it is JSON. */
export interface AdminAnswer {
  readonly status: number;
  readonly body: unknown;
}

/** The daemon answered a route with an error status; `error` is its own message. */
export class AdminCallError extends Error {
  override name = 'AdminCallError';

  constructor(
    readonly socketPath: string,
    readonly route: string,
    readonly status: number,
    readonly error: string,
  ) {
    super(`crion daemon at unix://${socketPath}: GET ${route} answered ${status}: ${error}`);
  }
}

/** Throws DaemonUnreachableError when nothing answers on the socket; every status is an answer. */
export function adminGet(socketPath: string, route: string): Promise<AdminAnswer> {
  return new Promise((resolve, reject) => {
    const call = request({ socketPath, path: route, method: 'GET' }, (response) => {
      let text = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      response.on('error', reject);
      response.on('end', () => {
        const json = response.headers['content-type'] === 'application/json';
        try {
          resolve({ status: response.statusCode ?? 0, body: json ? JSON.parse(text) : text });
        } catch (error) {
          reject(new Error(`crion daemon at unix://${socketPath}: GET ${route} answered JSON that does not parse`, { cause: error }));
        }
      });
    });
    call.on('error', (error: NodeJS.ErrnoException) =>
      reject(new DaemonUnreachableError(`unix://${socketPath}`, unreachableReason(error), { cause: error })),
    );
    call.end();
  });
}

/** The body of a route that must answer 200; any other status is an AdminCallError with the daemon's message. */
export async function adminDocument<T>(socketPath: string, route: string): Promise<T> {
  const { status, body } = await adminGet(socketPath, route);
  if (status !== 200) throw new AdminCallError(socketPath, route, status, errorOf(body));
  return body as T;
}

/** The `error` of a JSON error body, else the body itself. */
export function errorOf(body: unknown): string {
  if (typeof body === 'object' && body !== null && typeof (body as { error?: unknown }).error === 'string') return (body as { error: string }).error;
  return String(body);
}

/**
 * Follows the daemon's pull progress board (`GET /v1/pulls/watch`). Calls
 * `onUpdate` for every line until `stop` is called or the daemon hangs up.
 */
export function watchPulls(socketPath: string, onUpdate: (pull: PullProgress) => void): { stop(): void; ready: Promise<void> } {
  let stopRequest = () => {};
  const ready = new Promise<void>((resolve, reject) => {
    const call = request({ socketPath, path: '/v1/pulls/watch', method: 'GET' }, (response) => {
      if (response.statusCode !== 200) {
        reject(new Error(`admin socket ${socketPath} answered ${response.statusCode}`));
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
