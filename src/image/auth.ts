import { createHash } from 'node:crypto';
import { ConfigError } from '../config/config-error.js';
import { readText } from '../config/load.js';
import { InvalidArgumentError, PermissionDeniedError, UnavailableError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { DOCKER_HUB } from './reference.js';
import { readBody, TransportError, type HttpTransport, type TlsContext } from './registry-http.js';

/**
 * Registry credentials and the distribution auth handshake.
 *
 * Credentials come from the CRI PullImage request (the kubelet's image pull
 * secrets) or else from `image.auth_file`, a kubelet/Docker `config.json`
 * whose keys match by registry and, most specific first, repository path.
 *
 * The handshake follows the distribution token spec: a 401 carries a
 * `WWW-Authenticate` challenge; Basic is answered with the password, Bearer
 * with a token fetched from the challenge's realm (GET with basic
 * credentials or anonymously, POST with a refresh token for an identity
 * token). Tokens are cached per realm, service, scope and credentials until
 * they expire. A registry token from the CRI is sent as is.
 *
 * No credential, token or Authorization header ever goes into an error
 * message or a log line.
 */

export type Credentials =
  | { readonly kind: 'basic'; readonly username: string; readonly password: string }
  /** An OAuth2 refresh token, traded for access tokens at the realm. */
  | { readonly kind: 'identity-token'; readonly token: string }
  /** A bearer token for the registry itself. */
  | { readonly kind: 'registry-token'; readonly token: string };

/** The CRI AuthConfig; every field is "" when unset, as the kubelet sends it. */
export interface CriAuthConfig {
  readonly username: string;
  readonly password: string;
  /** base64 of `username:password`. */
  readonly auth: string;
  readonly serverAddress: string;
  readonly identityToken: string;
  readonly registryToken: string;
}

/** Credentials from an auth file, keyed by `host[/path]`. */
export interface AuthFile {
  readonly source: string;
  readonly entries: ReadonlyMap<string, Credentials>;
}

export const EMPTY_AUTH_FILE: AuthFile = { source: '', entries: new Map() };

/** Throws InvalidArgumentError (without the secret) when `auth` is not base64 of `user:password`. */
export function credentialsFromAuthConfig(config: CriAuthConfig): Credentials | null {
  if (config.registryToken !== '') return { kind: 'registry-token', token: config.registryToken };
  if (config.identityToken !== '') return { kind: 'identity-token', token: config.identityToken };
  if (config.username !== '' || config.password !== '') {
    return { kind: 'basic', username: config.username, password: config.password };
  }
  if (config.auth === '') return null;
  const basic = decodeBasic(config.auth);
  if (basic === null) throw new InvalidArgumentError('AuthConfig.auth is not base64 of "username:password"');
  return basic;
}

function decodeBasic(auth: string): Credentials | null {
  const decoded = Buffer.from(auth, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1) return null;
  return { kind: 'basic', username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/**
 * Reads a `config.json` (`{"auths": {"HOST[/PATH]": {"auth": "…"}}}`, or the
 * legacy `.dockercfg` map without `auths`). "" or a missing file is empty:
 * the kubelet may write it later. Throws ConfigError naming the entry when
 * it is malformed.
 */
export async function loadAuthFile(file: string): Promise<AuthFile> {
  if (file === '') return EMPTY_AUTH_FILE;
  const text = await readText(file, false);
  if (text === null) return { ...EMPTY_AUTH_FILE, source: file };
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(file, null, `not JSON (${(error as Error).message})`, { cause: error });
  }
  if (!isObject(document)) throw new ConfigError(file, null, 'must be a JSON object');
  const legacy = document.auths === undefined;
  const auths = legacy ? document : document.auths;
  if (!isObject(auths)) throw new ConfigError(file, 'auths', 'must be an object');
  const entries = new Map<string, Credentials>();
  for (const [key, value] of Object.entries(auths)) {
    const at = `auths.${JSON.stringify(key)}`;
    // Legacy files mix in settings such as "credsStore" that are not registries.
    if (!isObject(value)) {
      if (legacy) continue;
      throw new ConfigError(file, at, 'must be an object');
    }
    const field = (name: string): string => {
      const text = value[name] ?? '';
      if (typeof text !== 'string') throw new ConfigError(file, `${at}.${name}`, 'must be a string');
      return text;
    };
    const fields: CriAuthConfig = {
      username: field('username'),
      password: field('password'),
      auth: field('auth'),
      serverAddress: '',
      identityToken: field('identitytoken'),
      registryToken: field('registrytoken'),
    };
    let credentials: Credentials | null;
    try {
      credentials = credentialsFromAuthConfig(fields);
    } catch (error) {
      throw new ConfigError(file, `${at}.auth`, 'is not base64 of "username:password"', { cause: error });
    }
    if (credentials !== null) entries.set(normalizeAuthKey(key), credentials);
  }
  return { source: file, entries };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Docker Hub answers to several names; credentials for any of them are for docker.io. */
const HUB_ALIASES = new Set(['index.docker.io', 'registry-1.docker.io', DOCKER_HUB]);

/**
 * `https://index.docker.io/v1/` → `docker.io`, `https://r.example.com` →
 * `r.example.com`, `r.example.com/team/` → `r.example.com/team`: the key
 * forms that kubelet and Docker write.
 */
export function normalizeAuthKey(key: string): string {
  let rest = key.replace(/^https?:\/\//, '').replace(/\/+$/, '');
  if (/\/v[12]$/.test(rest) && rest !== key) rest = rest.replace(/\/v[12]$/, '');
  const slash = rest.indexOf('/');
  const host = slash === -1 ? rest : rest.slice(0, slash);
  return (HUB_ALIASES.has(host) ? DOCKER_HUB : host) + (slash === -1 ? '' : rest.slice(slash));
}

/** The entry for the longest matching key: `host/a/b`, then `host/a`, then `host`. */
export function authFileCredentials(file: AuthFile, registry: string, repository: string): Credentials | null {
  const components = repository.split('/');
  for (let length = components.length; length >= 0; length--) {
    const key = [registry, ...components.slice(0, length)].join('/');
    const credentials = file.entries.get(key);
    if (credentials !== undefined) return credentials;
  }
  return null;
}

/**
 * What to present to `registry` for `repository`: the request's AuthConfig
 * unless it names another server (then it is not for this endpoint, e.g. a
 * mirror), else the auth file's entry.
 */
export function resolveCredentials(authConfig: CriAuthConfig | null, authFile: AuthFile, registry: string, repository: string): Credentials | null {
  if (authConfig !== null) {
    const server = authConfig.serverAddress === '' ? null : normalizeAuthKey(authConfig.serverAddress).split('/')[0];
    const credentials = server === null || server === registry ? credentialsFromAuthConfig(authConfig) : null;
    if (credentials !== null) return credentials;
  }
  return authFileCredentials(authFile, registry, repository);
}

export interface Challenge {
  /** Lower case: `bearer`, `basic`. */
  readonly scheme: string;
  /** Parameter names lower case, values unquoted. */
  readonly params: Readonly<Record<string, string>>;
}

const TOKEN = /[!#$%&'*+.^_`|~0-9A-Za-z-]+/y;

/**
 * RFC 7235 challenges, as one header or several joined with commas:
 * `Bearer realm="https://auth.example.com/token",service="r",scope="repository:a:pull,push"`.
 * Stops at the first malformed piece and returns what it understood.
 */
export function parseChallenges(header: string): Challenge[] {
  let i = 0;
  const skip = (chars: string): void => {
    while (i < header.length && chars.includes(header[i] as string)) i++;
  };
  const token = (): string | null => {
    TOKEN.lastIndex = i;
    const match = TOKEN.exec(header);
    if (match === null) return null;
    i += match[0].length;
    return match[0];
  };
  const quoted = (): string => {
    let value = '';
    for (i++; i < header.length && header[i] !== '"'; i++) {
      if (header[i] === '\\') i++;
      value += header[i] ?? '';
    }
    i++;
    return value;
  };
  const challenges: Challenge[] = [];
  for (;;) {
    skip(' \t,');
    const scheme = token();
    if (scheme === null) return challenges;
    const params: Record<string, string> = {};
    skip(' \t');
    for (;;) {
      const start = i;
      const name = token();
      skip(' \t');
      if (name === null || header[i] !== '=') {
        // Not a parameter: the next challenge's scheme begins here.
        i = start;
        break;
      }
      i++;
      skip(' \t');
      params[name.toLowerCase()] = header[i] === '"' ? quoted() : (token() ?? '');
      skip(' \t');
      if (header[i] !== ',') break;
      i++;
      skip(' \t');
    }
    challenges.push({ scheme: scheme.toLowerCase(), params });
  }
}

/** Who is asking for what: one repository of one registry, with the pull's credentials. */
export interface AuthTarget {
  readonly registry: string;
  readonly repository: string;
  readonly credentials: Credentials | null;
  readonly tls: TlsContext;
}

interface CachedToken {
  readonly header: string;
  readonly expiresAt: number;
}

const MAX_TOKEN_RESPONSE_BYTES = 1024 * 1024;
/** The token spec's default lifetime. */
const DEFAULT_TOKEN_SECONDS = 60;
/** Renew this long before expiry so a token does not lapse in flight. */
const TOKEN_EXPIRY_MARGIN_MS = 5_000;

/**
 * Answers challenges for one daemon. Remembers each registry's last
 * challenge, so later requests carry a token from the start instead of
 * collecting a 401 each.
 */
export class RegistryAuth {
  private readonly challenges = new Map<string, Challenge>();
  private readonly tokens = new Map<string, CachedToken>();
  /**
   * Concurrent layer downloads share one token request. It carries no
   * caller's signal, so one pull's cancellation cannot fail another's; the
   * transport's timeouts bound it.
   */
  private readonly pending = new Map<string, Promise<CachedToken>>();

  constructor(
    private readonly transport: HttpTransport,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** The Authorization header for the next request to `target`; null to go anonymous. */
  async authorization(target: AuthTarget): Promise<string | null> {
    const { credentials } = target;
    if (credentials?.kind === 'registry-token') return `Bearer ${credentials.token}`;
    const challenge = this.challenges.get(target.registry);
    if (challenge === undefined) return null;
    if (challenge.scheme === 'basic') {
      return credentials?.kind === 'basic' ? basicHeader(credentials) : null;
    }
    const key = this.tokenKey(challenge, target);
    const cached = this.tokens.get(key);
    if (cached !== undefined && cached.expiresAt > this.now()) return cached.header;
    let pending = this.pending.get(key);
    if (pending === undefined) {
      pending = this.fetchToken(challenge, target).finally(() => this.pending.delete(key));
      this.pending.set(key, pending);
    }
    const token = await pending;
    this.remember(key, token);
    return token.header;
  }

  /** Expired tokens go as new ones come, so the cache holds what is live. */
  private remember(key: string, token: CachedToken): void {
    const now = this.now();
    for (const [other, { expiresAt }] of this.tokens) if (expiresAt <= now) this.tokens.delete(other);
    this.tokens.set(key, token);
  }

  /**
   * Takes in a 401: remembers its challenge and forgets the token that was
   * refused. False when answering again cannot help (no usable challenge,
   * Basic without a password, a registry token that was just refused).
   */
  challenged(target: AuthTarget, header: string | undefined): boolean {
    const challenges = parseChallenges(header ?? '');
    const challenge = challenges.find((c) => c.scheme === 'bearer' && c.params.realm !== undefined) ?? challenges.find((c) => c.scheme === 'basic');
    if (challenge === undefined || target.credentials?.kind === 'registry-token') return false;
    if (challenge.scheme === 'basic' && target.credentials?.kind !== 'basic') return false;
    this.challenges.set(target.registry, challenge);
    if (challenge.scheme === 'bearer') this.tokens.delete(this.tokenKey(challenge, target));
    return true;
  }

  private tokenKey(challenge: Challenge, target: AuthTarget): string {
    const who = target.credentials === null ? '' : createHash('sha256').update(JSON.stringify(target.credentials)).digest('hex');
    return [challenge.params.realm, challenge.params.service ?? '', scopeOf(target), who].join('\0');
  }

  private async fetchToken(challenge: Challenge, target: AuthTarget): Promise<CachedToken> {
    const { credentials } = target;
    let realm: URL;
    try {
      realm = new URL(challenge.params.realm ?? '');
    } catch {
      throw new UnavailableError(`registry ${target.registry} sent an invalid token realm`);
    }
    if (realm.protocol !== 'https:' && realm.protocol !== 'http:') {
      throw new UnavailableError(`registry ${target.registry} sent a token realm that is not an HTTP URL`);
    }
    const service = challenge.params.service;
    const scope = scopeOf(target);
    const refresh = credentials?.kind === 'identity-token';
    if (!refresh) {
      if (service !== undefined) realm.searchParams.set('service', service);
      realm.searchParams.set('scope', scope);
      if (credentials?.kind === 'basic') realm.searchParams.set('account', credentials.username);
    }
    const response = await this.transport.request({
      method: refresh ? 'POST' : 'GET',
      url: realm,
      headers: {
        accept: 'application/json',
        ...(credentials?.kind === 'basic' ? { authorization: basicHeader(credentials) } : {}),
        ...(refresh ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      },
      ...(refresh ? { body: refreshForm(credentials.token, service, scope) } : {}),
      tls: target.tls,
    });
    const where = `token server ${realm.host} for ${target.registry}`;
    if (response.status === 429 || response.status >= 500) {
      response.body.resume();
      throw new TransportError(`${where} answered ${response.status}`, true);
    }
    const body = await readBody(response.body, MAX_TOKEN_RESPONSE_BYTES);
    if (response.status === 401 || response.status === 403) {
      throw new PermissionDeniedError(
        credentials === null
          ? `${where} refused anonymous access to ${target.repository} (HTTP ${response.status})`
          : `${where} refused the credentials for ${target.repository} (HTTP ${response.status}); ` + 'check the credentials',
      );
    }
    const parsed = response.status === 200 && body !== null ? parseTokenResponse(body) : null;
    if (parsed === null) {
      throw new UnavailableError(`${where} answered ${response.status} without a token`);
    }
    this.log.debug({ registry: target.registry, realm: realm.origin + realm.pathname, scope, expiresInS: parsed.seconds }, 'registry token obtained');
    return {
      header: `Bearer ${parsed.token}`,
      expiresAt: this.now() + Math.max(0, parsed.seconds * 1000 - TOKEN_EXPIRY_MARGIN_MS),
    };
  }
}

/** The OAuth2 refresh-token grant of the distribution token spec. */
function refreshForm(refreshToken: string, service: string | undefined, scope: string): string {
  const form = new URLSearchParams({
    grant_type: 'refresh_token',
    refresh_token: refreshToken,
    client_id: 'crion',
    scope,
  });
  if (service !== undefined) form.set('service', service);
  return form.toString();
}

function scopeOf(target: AuthTarget): string {
  return `repository:${target.repository}:pull`;
}

function basicHeader(credentials: { username: string; password: string }): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
}

function parseTokenResponse(body: Buffer): { token: string; seconds: number } | null {
  let document: unknown;
  try {
    document = JSON.parse(body.toString('utf8'));
  } catch {
    return null;
  }
  if (!isObject(document)) return null;
  const token = typeof document.token === 'string' && document.token !== '' ? document.token : document.access_token;
  if (typeof token !== 'string' || token === '') return null;
  const expiresIn = document.expires_in;
  const seconds = typeof expiresIn === 'number' && expiresIn > 0 ? expiresIn : DEFAULT_TOKEN_SECONDS;
  return { token, seconds };
}
