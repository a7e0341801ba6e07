import { open, rm } from 'node:fs/promises';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { InvalidArgumentError, NotFoundError, PermissionDeniedError, UnavailableError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { RegistryAuth, type AuthTarget, type Credentials } from './auth.js';
import { DEFAULT_CERTS_DIR } from './certs.js';
import { ContentMismatchError, digestOf, DigestingStream, isDigest, type Digest } from './digest.js';
import { MANIFEST_ACCEPT, parseManifest, type Descriptor, type Manifest } from './manifest.js';
import { DOCKER_HUB, referenceName, referenceString } from './reference.js';
import type { PullCandidate } from './registries-conf.js';
import { asTransportError, HttpTransport, readBody, TransportError, type HttpResponse } from './registry-http.js';

/**
 * The OCI distribution API (v2), pull side: manifests and blobs from one
 * endpoint at a time, verified against their digests while they stream.
 * It handles auth challenges, retries with backoff on network failures,
 * 5xx and 429, plain HTTP for insecure registries (after TLS fails, as
 * containers/image does), and maps what went wrong to domain errors:
 * 404 → NotFoundError, refused credentials → PermissionDeniedError,
 * unreachable or failing registry → UnavailableError, content that does not
 * match its digest → ContentMismatchError. Cancelling the signal rejects
 * with the signal's reason.
 *
 * One client per daemon (it holds connections and tokens); credentials come
 * with each call because they come with each PullImage.
 *
 *   const { registriesConf: file, registriesConfDir: dir, authFile: auth } = config.image;
 *   const registries = await loadRegistriesConfig({ file, dir });  // at start: a bad file stops the daemon
 *   const client = new RegistryClient({ log });
 *   const authFile = await loadAuthFile(auth);
 *   for (const candidate of resolvePullCandidates(registries, parseReference(image))) {
 *     const { registry, repository } = candidate.reference;
 *     const call = { credentials: resolveCredentials(request.auth, authFile, registry, repository), signal };
 *     let { parsed, digest } = await client.getManifest(candidate, call); // NotFound etc.: next candidate
 *     if (parsed.kind === 'index') {
 *       ({ parsed } = await client.getManifest(candidate, { ...call, digest: selectPlatform(parsed).digest }));
 *     }
 *     // parsed is an image manifest: fetch parsed.config (parseImageConfig) and each layer
 *     // (layerCompression(layer.mediaType)) with client.fetchBlob(candidate, layer, file, { ...call, onProgress });
 *     // store under candidate.canonical; repo digest = referenceName(candidate.canonical) + '@' + digest.
 *   }
 */

export interface RegistryClientOptions {
  readonly log: Logger;
  /** containers-certs.d(5) root. */
  readonly certsDir?: string;
  readonly connectTimeoutMs?: number;
  /** Longest silence from the registry, also mid-body, before the attempt counts as failed. */
  readonly idleTimeoutMs?: number;
  readonly retry?: RetryPolicy;
}

export interface RetryPolicy {
  /** Tries in all, the first included. */
  readonly attempts: number;
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
}

export interface RegistryCall {
  readonly credentials: Credentials | null;
  readonly signal?: AbortSignal | undefined;
}

/** Where to talk to: a pull candidate or anything shaped like one. */
export type RegistryEndpoint = Pick<PullCandidate, 'reference' | 'insecure'>;

export interface FetchedManifest {
  readonly mediaType: string;
  /** Of the bytes as served: what a repo digest names. */
  readonly digest: Digest;
  readonly bytes: Buffer;
  readonly parsed: Manifest;
}

/** `image.registry_attempts` sets the attempts; the delays are fixed. */
export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, initialDelayMs: 500, maxDelayMs: 10_000 };
/** containers/image's limit: a manifest is metadata, so anything larger is a broken or hostile registry. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_ERROR_BODY_BYTES = 64 * 1024;
/** Docker Hub's name in references is not the host that serves its API. */
const DOCKER_HUB_API_HOST = 'registry-1.docker.io';

export class RegistryClient {
  private readonly transport: HttpTransport;
  private readonly auth: RegistryAuth;
  private readonly log: Logger;
  private readonly retry: RetryPolicy;
  /** Which scheme answered an insecure registry, so later requests skip the failed TLS attempt. */
  private readonly schemes = new Map<string, 'https:' | 'http:'>();

  constructor(options: RegistryClientOptions) {
    this.log = options.log;
    this.retry = options.retry ?? DEFAULT_RETRY;
    this.transport = new HttpTransport({
      certsDir: options.certsDir ?? DEFAULT_CERTS_DIR,
      connectTimeoutMs: options.connectTimeoutMs ?? 30_000,
      idleTimeoutMs: options.idleTimeoutMs ?? 60_000,
    });
    this.auth = new RegistryAuth(this.transport, this.log);
  }

  /**
   * The manifest the endpoint's reference names, or `digest` (an index
   * entry) when given. Verified against the digest asked for and against
   * the registry's Docker-Content-Digest.
   */
  async getManifest(endpoint: RegistryEndpoint, call: RegistryCall & { digest?: Digest }): Promise<FetchedManifest> {
    const { reference } = endpoint;
    const expected = call.digest ?? reference.digest;
    const selector = expected ?? reference.tag ?? 'latest';
    const subject = `manifest of ${referenceString(reference)}`;
    const missing = call.digest === undefined ? `image ${referenceString(reference)}` : `manifest ${call.digest} of ${referenceName(reference)}`;
    return this.withRetries(endpoint, subject, call.signal, async () => {
      const response = await this.send(endpoint, `manifests/${selector}`, MANIFEST_ACCEPT.join(', '), call);
      if (response.status !== 200) {
        throw await this.failure(endpoint, response, call, `${missing} not found`);
      }
      const bytes = await readBody(response.body, MAX_MANIFEST_BYTES);
      if (bytes === null) throw new InvalidArgumentError(`${subject} is larger than ${MAX_MANIFEST_BYTES} bytes`);
      const contentType = response.headers['content-type'] ?? null;
      const parsed = parseManifest(bytes, contentType);
      const digest = digestOf(bytes);
      if (expected !== null && digest !== expected) {
        throw new ContentMismatchError(`${subject}: expected digest ${expected}, got ${digest}`);
      }
      const announced = response.headers['docker-content-digest'];
      if (typeof announced === 'string' && isDigest(announced) && announced !== digest) {
        throw new ContentMismatchError(`${subject}: the registry announced digest ${announced}, the content has ${digest}`);
      }
      return { mediaType: parsed.mediaType, digest, bytes, parsed };
    });
  }

  /**
   * Streams the blob `descriptor` names into `destination` (created or
   * truncated), checking size and sha256 as it goes; on any failure the file
   * is removed. `onProgress` gets the bytes received so far in this attempt
   * (a retry starts again from zero).
   */
  async fetchBlob(
    endpoint: RegistryEndpoint,
    descriptor: Pick<Descriptor, 'digest' | 'size'>,
    destination: string,
    call: RegistryCall & { onProgress?: (receivedBytes: number) => void },
  ): Promise<void> {
    const { digest, size } = descriptor;
    const subject = `blob ${digest} of ${referenceName(endpoint.reference)}`;
    try {
      await this.withRetries(endpoint, subject, call.signal, async () => {
        const response = await this.send(endpoint, `blobs/${digest}`, '*/*', call);
        if (response.status !== 200) throw await this.failure(endpoint, response, call, `${subject} not found`);
        const announced = response.headers['content-length'];
        if (announced !== undefined && Number(announced) !== size) {
          response.body.destroy();
          throw new ContentMismatchError(`${subject}: expected ${size} bytes, the registry announced ${announced}`);
        }
        const digester = new DigestingStream();
        let received = 0;
        const sizeGuard = new Transform({
          transform(chunk: Buffer, _encoding, callback) {
            received += chunk.length;
            if (received > size) {
              callback(new ContentMismatchError(`${subject}: expected ${size} bytes, got more`));
              return;
            }
            call.onProgress?.(received);
            callback(null, chunk);
          },
        });
        // Opened before any byte flows, so a failure cannot race the file into existence after its removal.
        const file = await open(destination, 'w');
        const options = call.signal === undefined ? {} : { signal: call.signal };
        await pipeline(response.body, sizeGuard, digester, file.createWriteStream(), options);
        if (digester.bytes !== size) {
          throw new ContentMismatchError(`${subject}: expected ${size} bytes, got ${digester.bytes}`);
        }
        const actual = digester.digest();
        if (actual !== digest) throw new ContentMismatchError(`${subject}: expected digest ${digest}, got ${actual}`);
      });
    } catch (error) {
      await rm(destination, { force: true });
      throw error;
    }
  }

  /** Closes every connection, cutting transfers in flight: for shutdown. */
  close(): void {
    this.transport.close();
  }

  /** A GET under `/v2/<repository>/`, answering one auth challenge. */
  private async send(endpoint: RegistryEndpoint, path: string, accept: string, call: RegistryCall): Promise<HttpResponse> {
    const target = this.authTarget(endpoint, call);
    for (let challenged = false; ; challenged = true) {
      const authorization = await this.auth.authorization(target);
      const headers = { accept, ...(authorization === null ? {} : { authorization }) };
      const response = await this.exchange(endpoint, `/v2/${target.repository}/${path}`, headers, call.signal);
      if (response.status !== 401 || challenged) return response;
      if (!this.auth.challenged(target, headerText(response.headers['www-authenticate']))) return response;
      response.body.resume();
    }
  }

  private authTarget(endpoint: RegistryEndpoint, call: RegistryCall): AuthTarget {
    const { registry, repository } = endpoint.reference;
    const tls = { registry, insecure: endpoint.insecure };
    return { registry, repository, credentials: call.credentials, tls };
  }

  /** Picks the scheme: https, and for an insecure registry http when https fails below HTTP. */
  private async exchange(
    endpoint: RegistryEndpoint,
    path: string,
    headers: Record<string, string>,
    signal: AbortSignal | undefined,
  ): Promise<HttpResponse> {
    const { registry } = endpoint.reference;
    const host = registry === DOCKER_HUB ? DOCKER_HUB_API_HOST : registry;
    const key = `${registry}\0${endpoint.insecure}`;
    const tls = { registry, insecure: endpoint.insecure };
    const request = async (scheme: 'https:' | 'http:'): Promise<HttpResponse> => {
      const url = new URL(`${scheme}//${host}${path}`);
      const response = await this.transport.request({ method: 'GET', url, headers, tls, signal });
      this.schemes.set(key, scheme);
      this.log.debug({ registry, path: url.pathname, status: response.status }, 'registry request');
      return response;
    };
    const known = this.schemes.get(key);
    if (known !== undefined || !endpoint.insecure) return request(known ?? 'https:');
    try {
      return await request('https:');
    } catch (error) {
      if (signal?.aborted === true) throw signal.reason;
      this.log.debug({ registry, reason: (error as Error).message }, 'insecure registry: https failed, trying http');
      return request('http:');
    }
  }

  /** The error for a response that is not the content asked for; reads (a bounded part of) its body. */
  private async failure(endpoint: RegistryEndpoint, response: HttpResponse, call: RegistryCall, notFound: string): Promise<Error> {
    const { registry, repository } = endpoint.reference;
    const detail = registryErrorDetail(await readBody(response.body, MAX_ERROR_BODY_BYTES));
    const status = `HTTP ${response.status}${detail}`;
    if (response.status === 404) return new NotFoundError(`${notFound} in registry ${registry} (${status})`);
    if (response.status === 401 || response.status === 403) {
      return new PermissionDeniedError(
        call.credentials === null
          ? `registry ${registry} refused anonymous access to ${repository} (${status}); ` + 'the repository may not exist or may need credentials'
          : `registry ${registry} refused the credentials for ${repository} (${status}); check the credentials`,
      );
    }
    if (response.status === 429 || response.status >= 500) {
      return new TransportError(`registry ${registry} answered ${status}`, true, retryAfterMs(response));
    }
    return new UnavailableError(`registry ${registry} answered ${status}`);
  }

  private async withRetries<T>(endpoint: RegistryEndpoint, subject: string, signal: AbortSignal | undefined, attempt: () => Promise<T>): Promise<T> {
    const { registry } = endpoint.reference;
    for (let tries = 1; ; tries++) {
      try {
        return await attempt();
      } catch (error) {
        if (signal?.aborted === true) throw signal.reason;
        const failure = asTransportError(error, registry);
        if (failure === null) throw error;
        if (!failure.retryable || tries >= this.retry.attempts) {
          const after = tries === 1 ? '' : ` (after ${tries} attempts)`;
          throw new UnavailableError(`pulling ${subject}: ${failure.message}${after}`, { cause: error });
        }
        const backoff = Math.min(this.retry.initialDelayMs * 2 ** (tries - 1), this.retry.maxDelayMs);
        const delayMs = Math.min(failure.retryAfterMs ?? backoff, this.retry.maxDelayMs);
        this.log.warn({ registry, subject, attempt: tries, delayMs, reason: failure.message }, 'registry request failed; retrying');
        await delay(delayMs, signal);
      }
    }
  }
}

/** Rejects with the signal's reason when it is aborted first. */
async function delay(ms: number, signal: AbortSignal | undefined): Promise<void> {
  try {
    await sleep(ms, undefined, signal === undefined ? {} : { signal });
  } catch (error) {
    throw signal?.aborted === true ? signal.reason : error;
  }
}

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

/** `: MANIFEST_UNKNOWN manifest unknown` from the distribution error body, or "" when it has none. */
function registryErrorDetail(body: Buffer | null): string {
  if (body === null) return '';
  try {
    const document = JSON.parse(body.toString('utf8')) as { errors?: Array<{ code?: unknown; message?: unknown }> };
    const first = document.errors?.[0];
    const parts = [first?.code, first?.message].filter((part) => typeof part === 'string' && part !== '');
    return parts.length === 0 ? '' : `: ${parts.join(' ')}`;
  } catch {
    return '';
  }
}

function retryAfterMs(response: HttpResponse): number | null {
  const seconds = Number(response.headers['retry-after']);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : null;
}
