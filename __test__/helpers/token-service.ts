/**
 * A token service for the token-auth registry variant: the distribution "token
 * authentication" flow (a registry answers 401 `Bearer realm=…,service=…,scope=…`;
 * the client asks the realm for a JWT with Basic credentials; the registry checks
 * the JWT's signature, issuer, audience, expiry and `access` claims).
 *
 * docker-registry 2.8 (Debian's) checks the signature with libtrust and finds the
 * key through the JWT header's `x5c` chain, which must verify against its
 * `rootcertbundle`: so the key pair comes with a self-signed certificate (made
 * with the openssl CLI, since node:crypto cannot issue certificates) that is both
 * the bundle and the whole chain. ES256 on P-256: a key in milliseconds, where
 * an RSA key takes openssl up to a second.
 *
 * Every request is recorded so a test can assert that a client fetched a token,
 * with which credentials and scopes.
 */

import { createPrivateKey, randomUUID, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Credentials } from './registry-client.js';
import { selfSignedCertificate } from './self-signed.js';

export const TOKEN_ISSUER = 'crion-test-token-service';

export interface TokenRequest {
  method: string;
  /** `service` query parameter. */
  service: string | null;
  /** `scope` query parameters as sent, e.g. `repository:crion-test/busybox:pull`. */
  scopes: string[];
  /** User name from the Basic credentials, or null when there were none. */
  username: string | null;
  /** Whether a token was issued (false: bad or missing credentials, wrong method). */
  granted: boolean;
}

export interface TokenSigner {
  /** PEM of the self-signed certificate: the registry's `rootcertbundle`. */
  certificatePem: string;
  sign(claims: object): string;
}

let signer: Promise<TokenSigner> | undefined;

/** One key pair and certificate per test process. */
export function tokenSigner(): Promise<TokenSigner> {
  signer ??= createSigner();
  return signer;
}

async function createSigner(): Promise<TokenSigner> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'crion-token-'));
  try {
    const { certFile: certPath, keyFile: keyPath } = await selfSignedCertificate(dir, { commonName: TOKEN_ISSUER, subjectAltName: null, days: 7 });
    const key: KeyObject = createPrivateKey(await readFile(keyPath));
    const certificatePem = await readFile(certPath, 'utf8');
    const x5c = [new X509Certificate(certificatePem).raw.toString('base64')];
    return {
      certificatePem,
      sign(claims: object): string {
        const header = base64url(JSON.stringify({ typ: 'JWT', alg: 'ES256', x5c }));
        const payload = base64url(JSON.stringify(claims));
        // JWS wants r||s, not the DER signature node:crypto makes by default.
        const signature = sign('sha256', Buffer.from(`${header}.${payload}`), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url');
        return `${header}.${payload}.${signature}`;
      },
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function base64url(text: string): string {
  return Buffer.from(text).toString('base64url');
}

export class TokenService {
  readonly requests: TokenRequest[] = [];

  private constructor(
    private readonly server: http.Server,
    /** The `service` (JWT audience) the registry expects. */
    readonly service: string,
  ) {}

  /** Starts on 127.0.0.1 with a free port; `credentials` are the only ones it accepts. */
  static async start(options: { service: string; credentials: Credentials }): Promise<TokenService> {
    const tokens = await tokenSigner();
    // The handler runs only once the server listens, after the instance exists.
    const server = http.createServer((request, response) => instance.handle(request, response, tokens, options.credentials));
    const instance = new TokenService(server, options.service);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return instance;
  }

  /** The `realm` the registry puts in its challenges. */
  get realm(): string {
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}/token`;
  }

  /** Requests that ended in a token. */
  get granted(): TokenRequest[] {
    return this.requests.filter((request) => request.granted);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private handle(request: http.IncomingMessage, response: http.ServerResponse, tokens: TokenSigner, credentials: Credentials): void {
    const url = new URL(request.url ?? '/', 'http://token');
    const presented = basicCredentials(request.headers.authorization);
    const record: TokenRequest = {
      method: request.method ?? '',
      service: url.searchParams.get('service'),
      scopes: url.searchParams.getAll('scope'),
      username: presented?.username ?? null,
      granted: false,
    };
    this.requests.push(record);
    // GET with Basic credentials only: clients that try the OAuth2 POST form first
    // (containerd does) fall back to GET on 405.
    if (url.pathname !== '/token') return reply(response, 404, { errors: [{ code: 'NOT_FOUND' }] });
    if (request.method !== 'GET') return reply(response, 405, { errors: [{ code: 'UNSUPPORTED' }] });
    if (presented === null || presented.username !== credentials.username || presented.password !== credentials.password) {
      response.setHeader('www-authenticate', `Basic realm="${TOKEN_ISSUER}"`);
      return reply(response, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'bad or missing credentials' }] });
    }
    const now = Math.floor(Date.now() / 1000);
    const expiresIn = 300;
    const token = tokens.sign({
      iss: TOKEN_ISSUER,
      sub: presented.username,
      aud: record.service ?? this.service,
      exp: now + expiresIn,
      // The registry rejects a token whose nbf is ahead of its clock; allow for skew.
      nbf: now - 60,
      iat: now,
      jti: randomUUID(),
      access: record.scopes.flatMap(parseScope),
    });
    record.granted = true;
    reply(response, 200, { token, access_token: token, expires_in: expiresIn, issued_at: new Date(now * 1000).toISOString() });
  }
}

/** `repository:crion-test/busybox:pull,push` → an `access` claim granting exactly that. */
function parseScope(scope: string): { type: string; name: string; actions: string[] }[] {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first === -1 || last === first) return [];
  return [
    {
      type: scope.slice(0, first),
      name: scope.slice(first + 1, last),
      actions: scope
        .slice(last + 1)
        .split(',')
        .filter(Boolean),
    },
  ];
}

function basicCredentials(header: string | undefined): Credentials | null {
  if (header === undefined || !/^basic /i.test(header)) return null;
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon === -1 ? null : { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function reply(response: http.ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}
