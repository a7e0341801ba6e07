import type { ServerResponse } from 'node:http';
import { renderConfig } from '../config/index.js';
import type { PullProgressBoard } from '../image/pull-progress.js';
import { containerDocument, type ContainerSource } from './container-document.js';
import { matchIdPrefix } from '../state/id-prefix.js';
import { infoDocument, type InfoSource } from './info-document.js';
import { podDocument, type PodSource } from './pod-document.js';
import { streamPullChanges } from './pull-watch.js';

/**
 * The admin socket's routes, apart from the HTTP server so that each can be
 * asked without a socket. Like CRI-O's inspect endpoints, every document is
 * JSON but the config, which is the TOML `crion config` prints:
 *
 *   GET /info               versions, config digest, host probe, paths, network (info-document.ts)
 *   GET /config             the effective configuration as TOML
 *   GET /containers/{id}    a container by ID or unique ID prefix (container-document.ts)
 *   GET /pods/{id}          a pod by ID or unique ID prefix (pod-document.ts)
 *   GET /v1/pulls           JSON array of the pulls on the board
 *   GET /v1/pulls/watch     NDJSON: the board, then every change, until the client hangs up
 *
 * An ID prefix that matches nothing is 404, one that matches several 409
 * with the candidates; errors are `{ "error": "…" }`.
 */

export interface AdminSources {
  readonly pulls: PullProgressBoard;
  /** Also the source of the configuration `/config` renders. */
  readonly info: InfoSource;
  readonly containers: ContainerSource;
  readonly pods: PodSource;
}

export type AdminReply =
  | { readonly status: number; readonly headers: Readonly<Record<string, string>>; readonly body: string }
  /** Streams until the client hangs up. */
  | { readonly stream: (response: ServerResponse) => void };

/** The body of a 409: the IDs the prefix starts. */
export interface AmbiguousIdError {
  readonly error: string;
  readonly candidates: readonly string[];
}

const OBJECT_PATH = /^\/(containers|pods)\/([^/]+)$/;

export function adminRoutes(sources: AdminSources): (method: string, url: string) => Promise<AdminReply> {
  return async (method, url) => {
    const { pathname } = new URL(url, 'http://admin');
    if (method !== 'GET') return errorReply(405, `${method} is not served here; only GET`, { allow: 'GET' });
    switch (pathname) {
      case '/info':
        return jsonReply(200, await infoDocument(sources.info));
      case '/config':
        return { status: 200, headers: { 'content-type': 'application/toml' }, body: renderConfig(sources.info.config()) };
      case '/v1/pulls':
        return jsonReply(200, sources.pulls.snapshot());
      case '/v1/pulls/watch':
        return { stream: (response) => streamPullChanges(sources.pulls, response) };
    }
    const object = OBJECT_PATH.exec(pathname);
    if (object === null) return errorReply(404, `no such route: ${pathname}`);
    // Not decoded: IDs are hex, so an escaped prefix matches nothing either way.
    const prefix = object[2]!;
    return object[1] === 'containers'
      ? objectReply('container', prefix, sources.containers.list(), (record) => containerDocument(sources.containers, record))
      : objectReply('pod', prefix, sources.pods.list(), (record) => podDocument(sources.pods, record));
  };
}

async function objectReply<R extends { readonly id: string }>(
  kind: 'container' | 'pod',
  prefix: string,
  records: readonly R[],
  document: (record: R) => unknown,
): Promise<AdminReply> {
  const match = matchIdPrefix(
    prefix,
    records.map((record) => record.id),
  );
  if (match.kind === 'none') return errorReply(404, `no ${kind} ID starts with "${prefix}"`);
  if (match.kind === 'ambiguous') {
    const body: AmbiguousIdError = { error: `"${prefix}" starts the IDs of ${match.ids.length} ${kind}s`, candidates: match.ids };
    return jsonReply(409, body);
  }
  return jsonReply(200, await document(records.find((record) => record.id === match.id)!));
}

const JSON_HEADERS = { 'content-type': 'application/json' };

function jsonReply(status: number, body: unknown): AdminReply {
  return { status, headers: JSON_HEADERS, body: JSON.stringify(body) };
}

export function errorReply(status: number, error: string, headers: Readonly<Record<string, string>> = {}): AdminReply {
  return { status, headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify({ error }) };
}
