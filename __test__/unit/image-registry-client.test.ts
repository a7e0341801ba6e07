import { execFile, spawnSync } from 'node:child_process';
import { access, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import test, { type ExecutionContext } from 'ava';
import { NotFoundError, PermissionDeniedError, UnavailableError, InvalidArgumentError } from '../../src/errors.js';
import type { Credentials } from '../../src/image/auth.js';
import { ContentMismatchError, digestOf, type Digest } from '../../src/image/digest.js';
import { MediaType, selectPlatform } from '../../src/image/manifest.js';
import { parseReference, type ImageReference } from '../../src/image/reference.js';
import { RegistryClient, type RegistryClientOptions, type RegistryEndpoint } from '../../src/image/registry-client.js';
import { createLogger } from '../../src/log/logger.js';
import { selfSignedCertificate } from '../helpers/self-signed.js';

const PASSWORD = 's3cret-pa55word';
const TOKEN = 'tok-abcdef-123456';

interface Recorded {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

interface Server {
  readonly host: string;
  readonly requests: Recorded[];
}

async function serve(t: ExecutionContext, handler: Handler, options: { tls?: https.ServerOptions; hostname?: string } = {}): Promise<Server> {
  const requests: Recorded[] = [];
  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      handler(req, res, body);
    });
  };
  const server = options.tls === undefined ? http.createServer(listener) : https.createServer(options.tls, listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  const { port } = server.address() as AddressInfo;
  return { host: `${options.hostname ?? '127.0.0.1'}:${port}`, requests };
}

/** Content and auth of a minimal distribution registry. */
interface FakeRegistry {
  readonly manifests: Map<string, { body: Buffer; mediaType: string }>;
  readonly blobs: Map<string, Buffer>;
  auth: 'none' | 'basic' | 'bearer';
  /** Answer before the registry does; return true when it answered. */
  intercept: (req: IncomingMessage, res: ServerResponse) => boolean;
}

function registryHandler(fake: FakeRegistry, tokenRealm: () => string): Handler {
  return (req, res) => {
    if (fake.intercept(req, res)) return;
    const url = new URL(req.url ?? '', 'http://x');
    const basic = `Basic ${Buffer.from(`alice:${PASSWORD}`).toString('base64')}`;
    if (url.pathname === '/token') {
      // Alice and refresh tokens get the real token; anonymous callers one the registry refuses.
      const alice = req.headers.authorization === basic || req.method === 'POST';
      const granted = alice || req.headers.authorization === undefined;
      res.writeHead(granted ? 200 : 401, { 'content-type': 'application/json' });
      res.end(JSON.stringify(granted ? { access_token: alice ? TOKEN : 'anonymous', expires_in: 300 } : {}));
      return;
    }
    const authorized =
      fake.auth === 'none' ||
      (fake.auth === 'basic' && req.headers.authorization === basic) ||
      (fake.auth === 'bearer' && req.headers.authorization === `Bearer ${TOKEN}`);
    if (!authorized) {
      const challenge =
        fake.auth === 'basic' ? 'Basic realm="fake"' : `Bearer realm="${tokenRealm()}",service="fake-registry",scope="repository:team/app:pull"`;
      res.writeHead(401, { 'www-authenticate': challenge, 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
      return;
    }
    const manifest = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(url.pathname);
    const blob = /^\/v2\/(.+)\/blobs\/([^/]+)$/.exec(url.pathname);
    const found = manifest ? fake.manifests.get(`${manifest[1]}:${manifest[2]}`) : undefined;
    if (found !== undefined) {
      res.writeHead(200, { 'content-type': found.mediaType, 'docker-content-digest': digestOf(found.body) });
      res.end(found.body);
      return;
    }
    const content = blob ? fake.blobs.get(blob[2] ?? '') : undefined;
    if (content !== undefined) {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': content.length });
      res.end(content);
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ errors: [{ code: manifest ? 'MANIFEST_UNKNOWN' : 'BLOB_UNKNOWN', message: 'unknown' }] }));
  };
}

interface Harness {
  readonly fake: FakeRegistry;
  readonly server: Server;
  readonly client: RegistryClient;
  readonly endpoint: (image?: string) => RegistryEndpoint;
  readonly logged: () => string;
  readonly dir: string;
}

async function harness(t: ExecutionContext, options: Partial<RegistryClientOptions> = {}): Promise<Harness> {
  const fake: FakeRegistry = { manifests: new Map(), blobs: new Map(), auth: 'none', intercept: () => false };
  let host = '';
  const server = await serve(
    t,
    registryHandler(fake, () => `http://${host}/token`),
  );
  host = server.host;
  const output = new PassThrough();
  let logged = '';
  output.on('data', (chunk: Buffer) => (logged += chunk.toString()));
  const client = new RegistryClient({
    log: createLogger({ level: 'debug', format: 'json', destination: output }),
    retry: { attempts: 3, initialDelayMs: 1, maxDelayMs: 5 },
    ...options,
  });
  t.teardown(() => client.close());
  const dir = await mkdtemp(path.join(tmpdir(), 'crion-registry-client-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const endpoint = (image = `${host}/team/app:v1`): RegistryEndpoint => ({
    reference: qualified(image),
    insecure: true,
  });
  return { fake, server, client, endpoint, logged: () => logged, dir };
}

function qualified(image: string): ImageReference {
  const parsed = parseReference(image);
  if (parsed.kind !== 'qualified') throw new Error(`${image} is a short name`);
  return parsed.reference;
}

const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

/** Pushes a one-layer image under team/app:v1 and returns its parts. */
function pushImage(fake: FakeRegistry, tag = 'v1', layerText = 'layer bytes') {
  const config = json({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [digestOf('x')] } });
  const layer = Buffer.from(layerText);
  const manifest = json({
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: { mediaType: MediaType.ociConfig, digest: digestOf(config), size: config.length },
    layers: [{ mediaType: MediaType.ociLayerGzip, digest: digestOf(layer), size: layer.length }],
  });
  const digest = digestOf(manifest);
  fake.manifests.set(`team/app:${tag}`, { body: manifest, mediaType: MediaType.ociManifest });
  fake.manifests.set(`team/app:${digest}`, { body: manifest, mediaType: MediaType.ociManifest });
  fake.blobs.set(digestOf(config), config);
  fake.blobs.set(digestOf(layer), layer);
  return { manifest, digest, layer, layerDescriptor: { digest: digestOf(layer), size: layer.length } };
}

const alice: Credentials = { kind: 'basic', username: 'alice', password: PASSWORD };
const noAuth = { credentials: null };

async function exists(file: string): Promise<boolean> {
  return access(file).then(
    () => true,
    () => false,
  );
}

test('a manifest by tag, asking for every current manifest type', async (t) => {
  const { fake, client, endpoint, server } = await harness(t);
  const { manifest, digest } = pushImage(fake);
  const fetched = await client.getManifest(endpoint(), noAuth);
  t.is(fetched.digest, digest);
  t.is(fetched.mediaType, MediaType.ociManifest);
  t.deepEqual(fetched.bytes, manifest);
  t.is(fetched.parsed.kind, 'manifest');
  const accept = server.requests[0]?.headers.accept ?? '';
  const expected = [MediaType.ociIndex, MediaType.ociManifest, MediaType.dockerManifestList, MediaType.dockerManifest];
  for (const type of expected) t.true(accept.includes(type), type);
  t.is(server.requests[0]?.url, '/v2/team/app/manifests/v1');
  t.regex(String(server.requests[0]?.headers['user-agent']), /^crion\//);
});

test('a manifest by digest is checked against the digest', async (t) => {
  const { fake, client, endpoint, server } = await harness(t);
  const { digest } = pushImage(fake);
  const fetched = await client.getManifest(endpoint(`${server.host}/team/app@${digest}`), noAuth);
  t.is(fetched.digest, digest);
  t.is(server.requests[0]?.url, `/v2/team/app/manifests/${digest}`);

  const other: Digest = digestOf('something else');
  fake.manifests.set(`team/app:${other}`, fake.manifests.get('team/app:v1')!);
  const error = await t.throwsAsync(client.getManifest(endpoint(), { ...noAuth, digest: other }), {
    instanceOf: ContentMismatchError,
  });
  t.is(error.message, `manifest of ${server.host}/team/app:v1: expected digest ${other}, got ${digest}`);
});

test('a Docker-Content-Digest that disagrees with the content is refused', async (t) => {
  const { fake, client, endpoint } = await harness(t);
  pushImage(fake);
  fake.intercept = (req, res) => {
    if (!req.url?.includes('/manifests/')) return false;
    res.writeHead(200, { 'content-type': MediaType.ociManifest, 'docker-content-digest': digestOf('lie') });
    res.end(fake.manifests.get('team/app:v1')?.body);
    return true;
  };
  await t.throwsAsync(client.getManifest(endpoint(), noAuth), {
    instanceOf: ContentMismatchError,
    message: /the registry announced digest sha256:/,
  });
});

test('schema 1 is refused with a clear message', async (t) => {
  const { fake, client, endpoint } = await harness(t);
  fake.manifests.set('team/app:v1', {
    body: json({ schemaVersion: 1, name: 'team/app', tag: 'v1', fsLayers: [], signatures: [] }),
    mediaType: MediaType.dockerSchema1Signed,
  });
  await t.throwsAsync(client.getManifest(endpoint(), noAuth), {
    instanceOf: InvalidArgumentError,
    message: 'Docker schema 1 manifests are not supported; re-push the image with a current client',
  });
});

test('a missing manifest is NotFound naming image and registry', async (t) => {
  const { client, endpoint, server } = await harness(t);
  await t.throwsAsync(client.getManifest(endpoint(), noAuth), {
    instanceOf: NotFoundError,
    message: `image ${server.host}/team/app:v1 not found in registry ${server.host} ` + '(HTTP 404: MANIFEST_UNKNOWN unknown)',
  });
});

test('an index, then the platform manifest it points to', async (t) => {
  const { fake, client, endpoint } = await harness(t);
  const { manifest, digest } = pushImage(fake);
  const index = json({
    schemaVersion: 2,
    mediaType: MediaType.ociIndex,
    manifests: [
      { digest: digestOf('arm'), size: 3, platform: { os: 'linux', architecture: 'arm64' } },
      { digest, size: manifest.length, platform: { os: 'linux', architecture: 'amd64' } },
    ].map((entry) => ({ mediaType: MediaType.ociManifest, ...entry })),
  });
  fake.manifests.set('team/app:multi', { body: index, mediaType: MediaType.ociIndex });
  const top = await client.getManifest(endpoint(`${endpoint().reference.registry}/team/app:multi`), noAuth);
  if (top.parsed.kind !== 'index') return t.fail();
  const entry = selectPlatform(top.parsed, { os: 'linux', architecture: 'amd64', variant: null });
  const chosen = await client.getManifest(endpoint(), { ...noAuth, digest: entry.digest });
  t.is(chosen.digest, digest);
  t.is(chosen.parsed.kind, 'manifest');
});

test('bearer: 401, token from the realm with basic credentials, retry; the token is then reused', async (t) => {
  const { fake, client, endpoint, server, logged, dir } = await harness(t);
  fake.auth = 'bearer';
  const { layer, layerDescriptor } = pushImage(fake);
  await client.getManifest(endpoint(), { credentials: alice });
  const tokenRequests = () => server.requests.filter((r) => r.url.startsWith('/token'));
  t.is(tokenRequests().length, 1);
  const tokenUrl = new URL(tokenRequests()[0]?.url ?? '', 'http://x');
  t.is(tokenUrl.searchParams.get('service'), 'fake-registry');
  t.is(tokenUrl.searchParams.get('scope'), 'repository:team/app:pull');
  t.is(tokenUrl.searchParams.get('account'), 'alice');
  t.is(tokenRequests()[0]?.headers.authorization, `Basic ${Buffer.from(`alice:${PASSWORD}`).toString('base64')}`);

  const before = server.requests.length;
  const file = path.join(dir, 'layer');
  await client.fetchBlob(endpoint(), layerDescriptor, file, { credentials: alice });
  t.deepEqual(await readFile(file), layer);
  t.is(tokenRequests().length, 1, 'the cached token served the blob');
  t.is(server.requests.length, before + 1, 'no 401 round trip once the challenge is known');
  t.false(logged().includes(PASSWORD));
  t.false(logged().includes(TOKEN));
});

test('bearer without credentials gets an anonymous token, and a refusal says so', async (t) => {
  const { fake, client, endpoint, server } = await harness(t);
  fake.auth = 'bearer';
  pushImage(fake);
  const error = await t.throwsAsync(client.getManifest(endpoint(), noAuth), { instanceOf: PermissionDeniedError });
  t.is(
    error.message,
    `registry ${server.host} refused anonymous access to team/app (HTTP 401: UNAUTHORIZED authentication required); ` +
      'the repository may not exist or may need credentials',
  );
  const tokenRequest = server.requests.find((r) => r.url.startsWith('/token'));
  t.is(tokenRequest?.headers.authorization, undefined);
});

test('an identity token is traded at the realm by POST with the refresh-token grant', async (t) => {
  const { fake, client, endpoint, server } = await harness(t);
  fake.auth = 'bearer';
  pushImage(fake);
  await client.getManifest(endpoint(), { credentials: { kind: 'identity-token', token: 'refresh-me' } });
  const tokenRequest = server.requests.find((r) => r.url.startsWith('/token'));
  t.is(tokenRequest?.method, 'POST');
  const form = new URLSearchParams(tokenRequest?.body);
  t.is(form.get('grant_type'), 'refresh_token');
  t.is(form.get('refresh_token'), 'refresh-me');
  t.is(form.get('service'), 'fake-registry');
  t.is(form.get('scope'), 'repository:team/app:pull');
  t.is(form.get('client_id'), 'crion');
});

test('a registry token is sent as the bearer token without asking the realm', async (t) => {
  const { fake, client, endpoint, server } = await harness(t);
  fake.auth = 'bearer';
  pushImage(fake);
  await client.getManifest(endpoint(), { credentials: { kind: 'registry-token', token: TOKEN } });
  t.is(server.requests.length, 1);
  t.is(server.requests[0]?.headers.authorization, `Bearer ${TOKEN}`);
});

test('basic auth answers a Basic challenge', async (t) => {
  const { fake, client, endpoint, server } = await harness(t);
  fake.auth = 'basic';
  pushImage(fake);
  await client.getManifest(endpoint(), { credentials: alice });
  t.deepEqual(
    server.requests.map((r) => r.headers.authorization === undefined),
    [true, false],
  );
});

test('a wrong password is PermissionDenied without the password in message or log', async (t) => {
  for (const auth of ['basic', 'bearer'] as const) {
    const { fake, client, endpoint, logged } = await harness(t);
    fake.auth = auth;
    pushImage(fake);
    const wrong: Credentials = { kind: 'basic', username: 'alice', password: 'wrong-password' };
    const error = await t.throwsAsync(client.getManifest(endpoint(), { credentials: wrong }), {
      instanceOf: PermissionDeniedError,
    });
    t.regex(error.message, /check the credentials/);
    t.false(error.message.includes('wrong-password'));
    t.false(logged().includes('wrong-password'));
  }
});

test('a blob streams to the file with progress', async (t) => {
  const { fake, client, endpoint, dir } = await harness(t);
  const { layer, layerDescriptor } = pushImage(fake);
  const file = path.join(dir, 'blob');
  const progress: number[] = [];
  await client.fetchBlob(endpoint(), layerDescriptor, file, { ...noAuth, onProgress: (n) => progress.push(n) });
  t.deepEqual(await readFile(file), layer);
  t.is(progress.at(-1), layer.length);
});

test('a blob whose content does not match its digest is refused and no file is left', async (t) => {
  const { fake, client, endpoint, dir, server } = await harness(t);
  const { layerDescriptor } = pushImage(fake);
  fake.blobs.set(layerDescriptor.digest, Buffer.from('layer bytez'));
  const file = path.join(dir, 'blob');
  const error = await t.throwsAsync(client.fetchBlob(endpoint(), layerDescriptor, file, noAuth), {
    instanceOf: ContentMismatchError,
  });
  t.is(
    error.message,
    `blob ${layerDescriptor.digest} of ${server.host}/team/app: expected digest ${layerDescriptor.digest}, ` + `got ${digestOf('layer bytez')}`,
  );
  t.false(await exists(file));
});

test('a blob longer than its descriptor is cut off and refused', async (t) => {
  const { fake, client, endpoint, dir } = await harness(t);
  const { layerDescriptor } = pushImage(fake);
  fake.intercept = (req, res) => {
    if (!req.url?.includes('/blobs/')) return false;
    res.writeHead(200);
    res.end(Buffer.alloc(layerDescriptor.size * 100));
    return true;
  };
  const file = path.join(dir, 'blob');
  await t.throwsAsync(client.fetchBlob(endpoint(), layerDescriptor, file, noAuth), {
    instanceOf: ContentMismatchError,
    message: /expected 11 bytes, got more/,
  });
  t.false(await exists(file));
});

test('a redirect to another host is followed without the Authorization header', async (t) => {
  const { fake, client, endpoint, dir } = await harness(t);
  fake.auth = 'basic';
  const { layer, layerDescriptor } = pushImage(fake);
  const storage = await serve(
    t,
    (_req, res) => {
      res.writeHead(200, { 'content-length': layer.length });
      res.end(layer);
    },
    { hostname: 'localhost' },
  );
  fake.intercept = (req, res) => {
    if (!req.url?.includes('/blobs/') || req.headers.authorization === undefined) return false;
    res.writeHead(307, { location: `http://${storage.host}/bucket/blob?X-Signature=abc` });
    res.end();
    return true;
  };
  const file = path.join(dir, 'blob');
  await client.fetchBlob(endpoint(), layerDescriptor, file, { credentials: alice });
  t.deepEqual(await readFile(file), layer);
  t.is(storage.requests.length, 1);
  t.is(storage.requests[0]?.headers.authorization, undefined);
  t.is(storage.requests[0]?.url, '/bucket/blob?X-Signature=abc');
});

test('a 503 is retried, and so is a dropped connection', async (t) => {
  const { fake, client, endpoint, server, logged } = await harness(t);
  pushImage(fake);
  let failures = 2;
  fake.intercept = (_req, res) => {
    if (failures-- === 2) {
      res.writeHead(503, { 'retry-after': '0' });
      res.end();
    } else if (failures >= 0) {
      res.socket?.destroy();
    } else {
      return false;
    }
    return true;
  };
  await client.getManifest(endpoint(), noAuth);
  t.is(server.requests.length, 3);
  t.regex(logged(), /registry request failed; retrying/);
});

test('retries are bounded, then the registry is Unavailable', async (t) => {
  const { fake, client, endpoint, server } = await harness(t);
  fake.intercept = (_req, res) => {
    res.writeHead(500, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ errors: [{ code: 'UNKNOWN', message: 'database is down' }] }));
    return true;
  };
  await t.throwsAsync(client.getManifest(endpoint(), noAuth), {
    instanceOf: UnavailableError,
    message:
      `pulling manifest of ${server.host}/team/app:v1: registry ${server.host} answered ` + 'HTTP 500: UNKNOWN database is down (after 3 attempts)',
  });
  t.is(server.requests.length, 3);
});

test('a registry that goes silent mid-body times out, and the retry completes', async (t) => {
  const { fake, client, endpoint, dir, server } = await harness(t, { idleTimeoutMs: 200 });
  const { layer, layerDescriptor } = pushImage(fake);
  let stalled = false;
  fake.intercept = (req, res) => {
    if (!req.url?.includes('/blobs/') || stalled) return false;
    stalled = true;
    res.writeHead(200, { 'content-length': layer.length });
    res.write(layer.subarray(0, 3));
    return true;
  };
  const file = path.join(dir, 'blob');
  await client.fetchBlob(endpoint(), layerDescriptor, file, noAuth);
  t.deepEqual(await readFile(file), layer);
  t.is(server.requests.length, 2);
});

test('a registry that stays silent is Unavailable and leaves no file', async (t) => {
  const { fake, client, endpoint, dir } = await harness(t, {
    idleTimeoutMs: 100,
    retry: { attempts: 1, initialDelayMs: 1, maxDelayMs: 1 },
  });
  const { layerDescriptor } = pushImage(fake);
  fake.intercept = (_req, res) => {
    res.writeHead(200, { 'content-length': layerDescriptor.size });
    res.write('la');
    return true;
  };
  const file = path.join(dir, 'blob');
  await t.throwsAsync(client.fetchBlob(endpoint(), layerDescriptor, file, noAuth), {
    instanceOf: UnavailableError,
    message: /nothing received for 100 ms/,
  });
  t.false(await exists(file));
});

test('cancelling rejects with the signal reason and leaves no file', async (t) => {
  const { fake, client, endpoint, dir } = await harness(t);
  const { layerDescriptor } = pushImage(fake);
  const controller = new AbortController();
  fake.intercept = (_req, res) => {
    res.writeHead(200, { 'content-length': layerDescriptor.size });
    res.write('la', () => controller.abort(new Error('kubelet gave up')));
    return true;
  };
  const file = path.join(dir, 'blob');
  await t.throwsAsync(client.fetchBlob(endpoint(), layerDescriptor, file, { ...noAuth, signal: controller.signal }), {
    message: 'kubelet gave up',
  });
  t.false(await exists(file));
});

test('a refused connection is retried, then Unavailable', async (t) => {
  const { client } = await harness(t);
  const closed = http.createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const { port } = closed.address() as AddressInfo;
  await new Promise((resolve) => closed.close(resolve));
  await t.throwsAsync(client.getManifest({ reference: qualified(`127.0.0.1:${port}/team/app:v1`), insecure: false }, noAuth), {
    instanceOf: UnavailableError,
    message: /ECONNREFUSED.*\(after 3 attempts\)/,
  });
});

test('a plain HTTP registry not marked insecure is refused with a hint', async (t) => {
  const { fake, client, endpoint } = await harness(t);
  pushImage(fake);
  await t.throwsAsync(client.getManifest({ ...endpoint(), insecure: false }, noAuth), {
    instanceOf: UnavailableError,
    message: /mark it insecure in registries.conf/,
  });
});

const execFileAsync = promisify(execFile);
const haveOpenssl = spawnSync('openssl', ['version']).status === 0;

(haveOpenssl ? test : test.skip)('TLS: a CA from certs.d makes a private registry trusted', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'crion-tls-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const { certFile: cert, keyFile: key } = await selfSignedCertificate(dir);
  const fake: FakeRegistry = { manifests: new Map(), blobs: new Map(), auth: 'none', intercept: () => false };
  pushImage(fake);
  const tls = { key: await readFile(key), cert: await readFile(cert) };
  const server = await serve(
    t,
    registryHandler(fake, () => ''),
    { tls, hostname: 'localhost' },
  );
  const certsDir = path.join(dir, 'certs.d');
  const log = createLogger({ level: 'error', format: 'json', destination: new PassThrough() });
  const retry = { attempts: 1, initialDelayMs: 1, maxDelayMs: 1 };
  const endpoint = { reference: qualified(`${server.host}/team/app:v1`), insecure: false };

  const untrusting = new RegistryClient({ log, certsDir, retry });
  t.teardown(() => untrusting.close());
  await t.throwsAsync(untrusting.getManifest(endpoint, noAuth), {
    instanceOf: UnavailableError,
    message: /self-signed certificate; trust its CA/,
  });

  await mkdir(path.join(certsDir, server.host), { recursive: true });
  await execFileAsync('cp', [cert, path.join(certsDir, server.host, 'ca.crt')]);
  const trusting = new RegistryClient({ log, certsDir, retry });
  t.teardown(() => trusting.close());
  t.is((await trusting.getManifest(endpoint, noAuth)).parsed.kind, 'manifest');

  const insecure = new RegistryClient({ log, certsDir: path.join(dir, 'none'), retry });
  t.teardown(() => insecure.close());
  t.is((await insecure.getManifest({ ...endpoint, insecure: true }, noAuth)).parsed.kind, 'manifest');
});
