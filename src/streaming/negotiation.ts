import type { IncomingMessage } from 'node:http';

/**
 * The values of a header that may be repeated or comma-separated, as Go's
 * clients send `X-Stream-Protocol-Version` (one header per version) and
 * browsers send `Sec-WebSocket-Protocol` (one list).
 */
export function headerValues(request: IncomingMessage, name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i < request.rawHeaders.length; i += 2) {
    if (request.rawHeaders[i]!.toLowerCase() !== name) continue;
    for (const value of request.rawHeaders[i + 1]!.split(',')) {
      const trimmed = value.trim();
      if (trimmed !== '') values.push(trimmed);
    }
  }
  return values;
}

/**
 * The SPDY handshake's choice: the first of the server's protocols, in the
 * server's order, that the client offers. A client that offers none gets
 * `''`, the unversioned protocol of clients older than negotiation. Null:
 * the client offered only protocols this server lacks.
 */
export function chooseSpdyProtocol<P extends string>(offered: readonly string[], supported: readonly P[]): P | '' | null {
  if (offered.length === 0) return '';
  return supported.find((protocol) => offered.includes(protocol)) ?? null;
}

/**
 * The WebSocket choice follows the client's order, as Kubernetes' own
 * server does; `''` when the client names no subprotocol.
 */
export function chooseWebSocketProtocol<P extends string>(offered: readonly string[], supported: readonly P[]): P | '' | null {
  if (offered.length === 0) return '';
  return (offered.find((protocol) => (supported as readonly string[]).includes(protocol)) as P | undefined) ?? null;
}
