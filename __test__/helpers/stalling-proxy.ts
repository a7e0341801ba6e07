/**
 * A plain HTTP proxy in front of a test registry that passes every request
 * through except the blobs it is told to stall: for those it sends the
 * headers and half the bytes, then nothing, as a registry whose storage hangs
 * does. It records when the client hangs up on a stalled blob, which is how a
 * test sees that the runtime gave up on the download.
 *
 *   const proxy = await startStallingProxy(t, registry.host);
 *   const stalled = proxy.stall(image.layers[0].digest);
 *   // pull `${proxy.host}/${image.repository}:latest` …
 *   await stalled.reached;
 *   const closedAt = await stalled.closed;
 */

import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Teardown } from './daemon.js';

export interface StalledBlob {
  /** Resolves once a request for the blob has been answered with its first half. */
  readonly reached: Promise<void>;
  /** Resolves with Date.now() when the client closes the stalled response. */
  readonly closed: Promise<number>;
}

export interface StallingProxy {
  /** `127.0.0.1:PORT`: the registry host part of image references pulled through it. */
  readonly host: string;
  /** Stalls the next request for `digest`; later requests for it pass through. */
  stall(digest: string): StalledBlob;
}

export async function startStallingProxy(t: Teardown, upstreamHost: string): Promise<StallingProxy> {
  const pending = new Map<string, { reached: () => void; closed: (at: number) => void }>();
  const server = http.createServer((request, response) => {
    const digest = /\/blobs\/(sha256:[a-f0-9]{64})$/.exec(request.url ?? '')?.[1];
    const stall = digest === undefined ? undefined : pending.get(digest);
    if (digest !== undefined && stall !== undefined) pending.delete(digest);
    forward(upstreamHost, request, response, stall);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    stall(digest) {
      let reached!: () => void;
      let closed!: (at: number) => void;
      const blob: StalledBlob = {
        reached: new Promise((resolve) => (reached = resolve)),
        closed: new Promise((resolve) => (closed = resolve)),
      };
      pending.set(digest, { reached, closed });
      return blob;
    },
  };
}

function forward(
  upstreamHost: string,
  request: IncomingMessage,
  response: ServerResponse,
  stall: { reached: () => void; closed: (at: number) => void } | undefined,
): void {
  const upstream = http.request(`http://${upstreamHost}${request.url ?? '/'}`, {
    method: request.method,
    headers: { ...request.headers, host: upstreamHost },
  });
  upstream.on('error', () => response.destroy());
  upstream.on('response', (answer) => {
    if (stall === undefined || answer.statusCode !== 200) {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(response);
      return;
    }
    const chunks: Buffer[] = [];
    answer.on('data', (chunk: Buffer) => chunks.push(chunk));
    answer.on('end', () => {
      const body = Buffer.concat(chunks);
      response.on('close', () => stall.closed(Date.now()));
      response.writeHead(200, { ...answer.headers, 'content-length': String(body.length) });
      response.write(body.subarray(0, body.length >> 1), () => stall.reached());
    });
  });
  request.pipe(upstream);
}
