/**
 * Pushes built images to a registry through the distribution HTTP API, and reads
 * blobs back, answering the registry's auth challenges (Basic, or
 * Bearer with a token from the challenge's realm) the way a real client does.
 * Pushing through the API rather than writing the registry's storage keeps the
 * registry's own checks (digests, manifest references) in the loop.
 */

import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import type { ReadableStream } from 'node:stream/web';
import type { Blob, BuiltArtifact, BuiltImage, JsonBlob } from './oci-image-builder.js';
import { BlobFile } from './oci-image-builder.js';

export interface Credentials {
  username: string;
  password: string;
}

/** Body factory: a retried request after a 401 needs a fresh body (a stream can be read once). */
type BodySource = () => { body: Buffer | ReadableStream; length: number };

export class RegistryClient {
  /** Authorization header per repository (null key for `/v2/` itself), from the last challenge answered. */
  private readonly authorization = new Map<string | null, string>();
  /** Where this client already pushed a blob, so other repositories can mount it instead of uploading. */
  private readonly pushedIn = new Map<string, string>();

  constructor(
    /** `http://127.0.0.1:PORT`. */
    readonly baseUrl: string,
    private readonly credentials: Credentials | null = null,
  ) {}

  /** Pushes every blob and manifest of an image or index, then tags it; returns the top manifest's digest. */
  async push(repository: string, tags: readonly string[], artifact: BuiltArtifact): Promise<string> {
    const images = artifact.kind === 'index' ? artifact.images : [artifact];
    for (const image of images) {
      await this.pushImageContent(repository, image);
      if (artifact.kind === 'index') await this.putManifest(repository, image.manifest.digest, image.manifest);
    }
    const top = artifact.kind === 'index' ? artifact.index : artifact.manifest;
    for (const tag of tags) await this.putManifest(repository, tag, top);
    if (tags.length === 0) await this.putManifest(repository, top.digest, top);
    return top.digest;
  }

  private async pushImageContent(repository: string, image: BuiltImage): Promise<void> {
    await Promise.all([image.config, ...image.layers].map((blob) => this.pushBlob(repository, blob)));
  }

  async hasBlob(repository: string, digest: string): Promise<boolean> {
    const response = await this.request(repository, 'HEAD', `/v2/${repository}/blobs/${digest}`);
    if (response.status === 200) return true;
    if (response.status === 404) return false;
    throw await httpError(response, `HEAD blob ${digest} in ${repository}`);
  }

  /** Monolithic upload: POST for an upload URL, then one PUT with the whole blob and its digest. */
  async pushBlob(repository: string, blob: Blob): Promise<void> {
    if (await this.hasBlob(repository, blob.digest)) return;
    const from = this.pushedIn.get(blob.digest);
    const query = from === undefined ? '' : `?mount=${encodeURIComponent(blob.digest)}&from=${encodeURIComponent(from)}`;
    const started = await this.request(repository, 'POST', `/v2/${repository}/blobs/uploads/${query}`);
    // 201: mounted from the other repository. 202: an upload session (also when the mount was refused).
    if (started.status === 201) return;
    if (started.status !== 202) throw await httpError(started, `start upload of ${blob.digest} to ${repository}`);
    const location = new URL(started.headers.get('location') ?? '', this.baseUrl);
    location.searchParams.set('digest', blob.digest);
    const done = await this.request(repository, 'PUT', location.toString(), {
      headers: { 'content-type': 'application/octet-stream' },
      body: bodySource(blob),
    });
    if (done.status !== 201) throw await httpError(done, `upload ${blob.digest} to ${repository}`);
    if (!this.pushedIn.has(blob.digest)) this.pushedIn.set(blob.digest, repository);
  }

  /** PUT a manifest under a tag or digest; returns the digest the registry computed. */
  async putManifest(repository: string, reference: string, manifest: JsonBlob): Promise<string> {
    const response = await this.request(repository, 'PUT', `/v2/${repository}/manifests/${reference}`, {
      headers: { 'content-type': manifest.mediaType },
      body: () => ({ body: manifest.data, length: manifest.size }),
    });
    if (response.status !== 201) throw await httpError(response, `PUT manifest ${repository}:${reference}`);
    const digest = response.headers.get('docker-content-digest');
    if (digest !== manifest.digest) throw new Error(`registry stored ${repository}:${reference} as ${digest}, expected ${manifest.digest}`);
    return digest;
  }

  async getBlob(repository: string, digest: string): Promise<Buffer> {
    const response = await this.request(repository, 'GET', `/v2/${repository}/blobs/${digest}`);
    if (response.status !== 200) throw await httpError(response, `GET blob ${digest} from ${repository}`);
    return Buffer.from(await response.arrayBuffer());
  }

  /**
   * One request, answering at most one auth challenge. `scopeRepository` keys the
   * cached Authorization header: a Bearer token is granted per repository.
   */
  async request(
    scopeRepository: string | null,
    method: string,
    pathOrUrl: string,
    init: { headers?: Record<string, string>; body?: BodySource } = {},
  ): Promise<Response> {
    const url = new URL(pathOrUrl, this.baseUrl);
    const send = (authorization: string | undefined): Promise<Response> => {
      const headers: Record<string, string> = { ...init.headers };
      if (authorization !== undefined) headers.authorization = authorization;
      const source = init.body?.();
      if (source !== undefined) headers['content-length'] = String(source.length);
      return fetch(url, {
        method,
        headers,
        redirect: 'manual',
        ...(source === undefined ? {} : { body: source.body, duplex: 'half' }),
      });
    };
    const cached = this.authorization.get(scopeRepository);
    const first = await send(cached);
    if (first.status !== 401 || this.credentials === null) return first;
    const challenge = first.headers.get('www-authenticate') ?? '';
    await first.arrayBuffer();
    const authorization = await this.answer(challenge);
    this.authorization.set(scopeRepository, authorization);
    return send(authorization);
  }

  private async answer(challenge: string): Promise<string> {
    const credentials = this.credentials!;
    const basic = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
    const { scheme, params } = parseChallenge(challenge);
    if (scheme === 'basic') return basic;
    if (scheme !== 'bearer' || params.realm === undefined) throw new Error(`unsupported auth challenge: ${challenge}`);
    const tokenUrl = new URL(params.realm);
    if (params.service !== undefined) tokenUrl.searchParams.set('service', params.service);
    for (const scope of (params.scope ?? '').split(' ').filter(Boolean)) tokenUrl.searchParams.append('scope', scope);
    const response = await fetch(tokenUrl, { headers: { authorization: basic } });
    if (response.status !== 200) throw await httpError(response, `token from ${tokenUrl.href}`);
    const body = (await response.json()) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (token === undefined) throw new Error(`token service answered without a token: ${JSON.stringify(body)}`);
    return `Bearer ${token}`;
  }
}

/** `Bearer realm="…",service="…",scope="…"` → scheme and parameters; the scheme is lower-cased. */
export function parseChallenge(header: string): { scheme: string; params: Record<string, string> } {
  const space = header.indexOf(' ');
  const scheme = (space === -1 ? header : header.slice(0, space)).toLowerCase();
  const params: Record<string, string> = {};
  for (const match of header.slice(space + 1).matchAll(/(\w+)="([^"]*)"/g)) params[match[1]!] = match[2]!;
  return { scheme, params };
}

function bodySource(blob: Blob): BodySource {
  const data = blob.data;
  if (data instanceof BlobFile) {
    return () => ({ body: Readable.toWeb(createReadStream(data.path)), length: blob.size });
  }
  return () => ({ body: data, length: data.length });
}

async function httpError(response: Response, what: string): Promise<Error> {
  return new Error(`${what}: HTTP ${response.status} ${await response.text()}`);
}
