import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import { rootCertificates } from 'node:tls';
import { packageVersion } from '../package-info.js';
import { loadRegistryTls } from './certs.js';

/**
 * One HTTP exchange with a registry or the hosts it sends us to (token
 * servers, blob storage), over node:http and node:https because only they
 * take per-registry CAs, client certificates and "insecure" per request.
 * Adds what a pull needs below the registry protocol: a connect timeout, an
 * idle timeout that also covers the body, cancellation, and redirects that
 * drop the Authorization header when they leave the origin (the registry's
 * credentials are not for S3). Failures below HTTP become TransportError,
 * which says whether retrying may help.
 */

/** Whose TLS settings apply: those of the registry the pull is talking to, whichever host it reaches. */
export interface TlsContext {
  /** The registry as written in the image name; names its certs.d directory. */
  readonly registry: string;
  /** Skip certificate verification. */
  readonly insecure: boolean;
}

export interface HttpRequest {
  readonly method: 'GET' | 'POST';
  readonly url: URL;
  /** Lower-case names. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly tls: TlsContext;
  readonly signal?: AbortSignal | undefined;
}

export interface HttpResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** Must be consumed or destroyed, or the connection stays busy. */
  readonly body: IncomingMessage;
  /** After redirects. */
  readonly url: URL;
}

export interface TransportOptions {
  readonly certsDir: string;
  readonly connectTimeoutMs: number;
  /** Longest wait for the next byte, headers and body alike. */
  readonly idleTimeoutMs: number;
}

/** A failure below the registry protocol, or a status that asks to come back later. */
export class TransportError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    /** From a Retry-After header. */
    readonly retryAfterMs: number | null = null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'TransportError';
  }
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 10;
const USER_AGENT = `crion/${packageVersion}`;

/** Worth another try: the peer or the path to it may recover. */
const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

const UNTRUSTED = "; trust its CA with a .crt file in the registry's certs.d directory, or mark the registry insecure";

/** Permanent until someone changes the host or the registry: retrying only delays the error. */
const PERMANENT_HINTS: Readonly<Record<string, string>> = {
  ENOTFOUND: 'no such host',
  EPROTO: 'TLS handshake failed; if the registry serves plain HTTP, mark it insecure in registries.conf',
  DEPTH_ZERO_SELF_SIGNED_CERT: `self-signed certificate${UNTRUSTED}`,
  SELF_SIGNED_CERT_IN_CHAIN: `certificate chain ends in an untrusted root${UNTRUSTED}`,
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: `certificate issuer is not trusted${UNTRUSTED}`,
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: `certificate issuer is not trusted${UNTRUSTED}`,
  CERT_HAS_EXPIRED: 'certificate has expired',
  ERR_TLS_CERT_ALTNAME_INVALID: 'certificate does not name this host',
};

/**
 * The error as a TransportError when it is a network failure; null for
 * anything else (a bug, a full disk), which must not be retried or renamed.
 */
export function asTransportError(error: unknown, host: string): TransportError | null {
  if (error instanceof TransportError) return error;
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (typeof code !== 'string') return null;
  if (TRANSIENT_CODES.has(code)) {
    return new TransportError(`${host}: ${(error as Error).message}`, true, null, { cause: error });
  }
  const hint = PERMANENT_HINTS[code];
  if (hint === undefined) return null;
  return new TransportError(`${host}: ${hint} (${code})`, false, null, { cause: error });
}

export class HttpTransport {
  private readonly httpAgent = new http.Agent({ keepAlive: true });
  private readonly httpsAgents = new Map<string, Promise<https.Agent>>();

  constructor(private readonly options: TransportOptions) {}

  /** Follows redirects. Throws TransportError, or the signal's reason once aborted. */
  async request(request: HttpRequest): Promise<HttpResponse> {
    let current = request;
    for (let redirects = 0; ; redirects++) {
      const response = await this.send(current);
      const location = response.headers.location;
      if (!REDIRECT_STATUSES.has(response.status) || location === undefined) return response;
      response.body.resume();
      const url = new URL(location, current.url);
      if (redirects === MAX_REDIRECTS) {
        throw new TransportError(`${request.url.host}: more than ${MAX_REDIRECTS} redirects`, false);
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        throw new TransportError(`${current.url.host} redirected to a ${url.protocol} URL`, false);
      }
      const headers =
        url.origin === current.url.origin
          ? current.headers
          : Object.fromEntries(Object.entries(current.headers).filter(([name]) => name !== 'authorization'));
      current = { ...current, url, headers, ...(response.status === 303 ? { method: 'GET', body: undefined } : {}) };
    }
  }

  /** Closes every connection, in use or idle: for shutdown. */
  close(): void {
    this.httpAgent.destroy();
    for (const agent of this.httpsAgents.values()) {
      void agent.then(
        (a) => a.destroy(),
        () => undefined,
      );
    }
    this.httpsAgents.clear();
  }

  private async send(request: HttpRequest): Promise<HttpResponse> {
    const agent = request.url.protocol === 'https:' ? await this.httpsAgent(request.tls) : this.httpAgent;
    const { connectTimeoutMs, idleTimeoutMs } = this.options;
    const host = request.url.host;
    return new Promise((resolve, reject) => {
      const fail = (error: unknown): void => {
        reject(request.signal?.aborted ? request.signal.reason : (asTransportError(error, host) ?? error));
      };
      const send = request.url.protocol === 'https:' ? https.request : http.request;
      const req = send(request.url, {
        method: request.method,
        headers: { 'user-agent': USER_AGENT, ...request.headers },
        agent,
        signal: request.signal,
        timeout: idleTimeoutMs,
      });
      let connectTimer: NodeJS.Timeout | undefined;
      let response: IncomingMessage | null = null;
      req.on('socket', (socket) => {
        if (!socket.connecting) return;
        connectTimer = setTimeout(() => {
          req.destroy(new TransportError(`${host}: no connection within ${connectTimeoutMs} ms`, true));
        }, connectTimeoutMs);
        socket.once('connect', () => clearTimeout(connectTimer));
      });
      req.on('timeout', () => {
        const error = new TransportError(`${host}: nothing received for ${idleTimeoutMs} ms`, true);
        response?.destroy(error);
        req.destroy(error);
      });
      req.on('response', (res) => {
        clearTimeout(connectTimer);
        response = res;
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res, url: request.url });
      });
      req.on('error', (error) => {
        clearTimeout(connectTimer);
        fail(error);
      });
      req.end(request.body);
    });
  }

  /** One agent per registry and insecure flag, so connections are reused and certs.d is read once. */
  private httpsAgent(tls: TlsContext): Promise<https.Agent> {
    const key = `${tls.registry}\0${tls.insecure}`;
    let agent = this.httpsAgents.get(key);
    if (agent === undefined) {
      agent = loadRegistryTls(this.options.certsDir, tls.registry).then(
        ({ ca, clientCert }) =>
          new https.Agent({
            keepAlive: true,
            rejectUnauthorized: !tls.insecure,
            // Node replaces its roots with `ca` when given, so the extra CAs join them explicitly.
            ...(ca.length === 0 ? {} : { ca: [...rootCertificates, ...ca] }),
            ...(clientCert === null ? {} : { cert: clientCert.cert, key: clientCert.key }),
          }),
      );
      // A broken certs.d directory may be fixed without a restart.
      agent.catch(() => this.httpsAgents.delete(key));
      this.httpsAgents.set(key, agent);
    }
    return agent;
  }
}

/** The whole body, or null (with the body destroyed) when it exceeds `limit` bytes. */
export async function readBody(body: IncomingMessage, limit: number): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of body) {
    length += (chunk as Buffer).length;
    if (length > limit) {
      body.destroy();
      return null;
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
