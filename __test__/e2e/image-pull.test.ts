import test from 'ava';
import { access, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { crictl, crictlJson } from '../helpers/crictl.js';
import { spawnDaemon, startDaemon, type Daemon } from '../helpers/daemon.js';
import { REGISTRY_CREDENTIALS, startRegistry, startSharedRegistry, type Registry } from '../helpers/registry.js';
import { startStallingProxy } from '../helpers/stalling-proxy.js';
import { publishTestImages, type TestImages } from '../helpers/test-images.js';

/**
 * PullImage, ImageStatus, ListImages, RemoveImage and ImageFsInfo through
 * crictl, against images the harness builds and serves from a loopback
 * docker-registry.
 */

let registry: Registry;
let images: TestImages;

test.before(async () => {
  registry = await startSharedRegistry();
  images = await publishTestImages(registry);
});

test.after.always(async () => {
  await registry?.dispose();
});

/** Loopback registries are not insecure by default: the daemon needs this entry to speak plain HTTP to them. */
function registriesConf(hosts: readonly string[]): string {
  return hosts.map((host) => `[[registry]]\nlocation = "${host}"\ninsecure = true\n`).join('\n');
}

async function imageDaemon(t: Parameters<typeof startDaemon>[0], hosts: readonly string[] = [registry.host]): Promise<Daemon> {
  return startDaemon(t, {
    config: `[image]\nregistries_conf_dir = "/nonexistent"\n`,
    args: ['--image-registries-conf', await writeRegistriesConf(t, hosts)],
  });
}

async function writeRegistriesConf(t: Parameters<typeof startDaemon>[0], hosts: readonly string[]): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'crion-registries-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'registries.conf');
  await writeFile(file, registriesConf(hosts));
  return file;
}

interface CriImage {
  id: string;
  repoTags: string[];
  repoDigests: string[];
  size: string;
  uid: { value: string } | null;
  username: string;
}

async function storeEntries(daemon: Daemon): Promise<{ layers: string[]; images: string[]; staging: string[] }> {
  const overlay = path.join(daemon.dir, 'root', 'overlay');
  return {
    layers: await readdir(path.join(overlay, 'layers')),
    images: await readdir(path.join(daemon.dir, 'root', 'images')),
    staging: await readdir(path.join(overlay, 'staging')),
  };
}

test('pull, inspect, list and remove an image; the image ID is the config digest', async (t) => {
  const daemon = await imageDaemon(t);
  const { busybox } = images;
  const pulled = await crictl(daemon, ['pull', busybox.reference]);
  t.is(pulled.code, 0, pulled.stderr);
  t.regex(pulled.stdout, new RegExp(busybox.configDigest));

  const { status } = await crictlJson<{ status: CriImage }>(daemon, ['inspecti', busybox.reference]);
  t.is(status.id, busybox.configDigest);
  t.deepEqual(status.repoTags, [busybox.reference]);
  t.deepEqual(status.repoDigests, [busybox.digestReference]);
  t.true(Number(status.size) > 0);

  const listed = await crictlJson<{ images: CriImage[] }>(daemon, ['images']);
  t.deepEqual(
    listed.images.map((image) => image.id),
    [busybox.configDigest],
  );

  const fsInfo = await crictlJson<{ status: { imageFilesystems: Array<{ usedBytes: { value: string } }> } }>(daemon, ['imagefsinfo']);
  t.true(Number(fsInfo.status.imageFilesystems[0]!.usedBytes.value) > 0);

  t.is((await crictl(daemon, ['rmi', busybox.reference])).code, 0);
  t.deepEqual((await crictlJson<{ images: CriImage[] }>(daemon, ['images'])).images, []);
  t.deepEqual(await storeEntries(daemon), { layers: [], images: [], staging: [] }, 'removal frees the layers');
});

test('zstd layers, Docker schema 2 manifests and lists, and this platform from an OCI index', async (t) => {
  const daemon = await imageDaemon(t);
  for (const [reference, expectedId] of [
    [images.zstd.reference, images.zstd.configDigest],
    [images.dockerSchema2Single.reference, images.dockerSchema2Single.configDigest],
    [images.dockerSchema2.reference, images.dockerSchema2.selected.configDigest],
    [images.multiarch.reference, images.multiarch.selected.configDigest],
  ] as const) {
    const pulled = await crictl(daemon, ['pull', reference]);
    t.is(pulled.code, 0, `${reference}: ${pulled.stderr}`);
    const { status } = await crictlJson<{ status: CriImage }>(daemon, ['inspecti', reference]);
    t.is(status.id, expectedId, reference);
  }
  const { status } = await crictlJson<{ status: CriImage }>(daemon, ['inspecti', images.multiarch.reference]);
  // The amd64 entry is the same image as the Docker list's, so it carries all three names' digests.
  t.true(status.repoDigests.includes(images.multiarch.digestReference), 'the repo digest names the index that was asked for');
});

for (const name of ['hostile', 'hostileSymlink', 'corrupt'] as const) {
  test(`a ${name} image fails the pull with a precise error and leaves the store as it was`, async (t) => {
    const daemon = await imageDaemon(t);
    t.is((await crictl(daemon, ['pull', images.busybox.reference])).code, 0);
    const before = await storeEntries(daemon);
    const pulled = await crictl(daemon, ['pull', images[name].reference]);
    t.not(pulled.code, 0);
    const expected = {
      hostile: /escape|outside|\.\./,
      hostileSymlink: /symlink|escape|outside/,
      corrupt: new RegExp(`${images.corrupt.corruptLayerDigest}.*expected|expected.*${images.corrupt.corruptLayerDigest}|digest`),
    }[name];
    t.regex(pulled.stderr, expected);
    t.deepEqual(await storeEntries(daemon), before);
    if (name === 'hostileSymlink') {
      await t.throwsAsync(access(images.hostileSymlink.escapeHostPath), { code: 'ENOENT' }, 'nothing was written outside the layer');
    }
  });
}

test('a missing image is NOT_FOUND, and ImageStatus of an absent image is an empty answer', async (t) => {
  const daemon = await imageDaemon(t);
  const pulled = await crictl(daemon, ['pull', `${registry.host}/crion-test/no-such-image:latest`]);
  t.not(pulled.code, 0);
  t.regex(pulled.stderr, /NotFound|not found/);
  const status = await crictl(daemon, ['inspecti', `${registry.host}/crion-test/no-such-image:latest`]);
  t.regex(status.stdout + status.stderr, /no such image|not found/i);
});

test('a malformed reference is INVALID_ARGUMENT naming the problem', async (t) => {
  const daemon = await imageDaemon(t);
  const pulled = await crictl(daemon, ['pull', `${registry.host}/Crion-Test/UPPER:latest`]);
  t.not(pulled.code, 0);
  t.regex(pulled.stderr, /InvalidArgument/);
  t.regex(pulled.stderr, /lowercase/);
});

test('identical concurrent pulls share one download and both succeed', async (t) => {
  const daemon = await imageDaemon(t);
  const results = await Promise.all([1, 2, 3].map(() => crictl(daemon, ['pull', images.multilayer.reference])));
  for (const result of results) t.is(result.code, 0, result.stderr);
  const entries = await storeEntries(daemon);
  t.is(entries.layers.length, images.multilayer.layers.length);
  t.is(entries.images.length, 1);
});

/** The value, or 'pending' if it has not settled within `ms`. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | 'pending'> {
  const timer = new AbortController();
  try {
    return await Promise.race([promise, sleep(ms, 'pending' as const, { signal: timer.signal })]);
  } finally {
    timer.abort();
  }
}

test('a pull its client gives up on is cancelled at once and leaves nothing behind', async (t) => {
  const proxy = await startStallingProxy(t, registry.host);
  const { multilayer } = images;
  const stalled = proxy.stall(multilayer.layers.at(-1)!.digest);
  const daemon = await imageDaemon(t, [proxy.host]);
  const reference = `${proxy.host}/${multilayer.repository}:latest`;

  const deadlineAt = Date.now() + 2_000;
  const pulled = await crictl(daemon, ['pull', '--pull-timeout', '2s', reference]);
  t.not(pulled.code, 0);
  t.regex(pulled.stderr, /DeadlineExceeded/);
  t.not(await within(stalled.reached, 0), 'pending', 'the pull reached the stalled layer before its deadline');

  // Left alone, the pull would hold the connection until the 60 s stall timeout, and retry after it.
  const closedAt = await within(stalled.closed, 20_000);
  t.not(closedAt, 'pending', 'the daemon still waits on the registry after the client gave up');
  if (closedAt === 'pending') return;
  t.log(`the stalled download was cut ${closedAt - deadlineAt} ms after the client's deadline`);
  await daemon.waitForLog((line) => line.msg === 'pull cancelled: no caller waits for it', 10_000);
  const outcome = daemon.logs().find((line) => line.rpc === 'PullImage' && typeof line.outcome === 'string');
  t.is(outcome?.msg, 'rpc failed', 'a cancelled pull is an outcome, not a crash');
  t.deepEqual(await storeEntries(daemon), { layers: [], images: [], staging: [] }, 'no half layer, and the committed ones are collected');

  const again = await crictl(daemon, ['pull', reference]);
  t.is(again.code, 0, again.stderr);
});

test('image.registry_stall_timeout_seconds and registry_attempts bound how long a stalling registry is waited for', async (t) => {
  const proxy = await startStallingProxy(t, registry.host);
  const { busybox } = images;
  proxy.stall(busybox.layers[0]!.digest);
  const daemon = await startDaemon(t, {
    config: `[image]\nregistries_conf_dir = "/nonexistent"\nregistry_stall_timeout_seconds = 1\nregistry_attempts = 1\n`,
    args: ['--image-registries-conf', await writeRegistriesConf(t, [proxy.host])],
  });
  // One attempt: the retry, which the proxy would serve, is never made.
  const pulled = await crictl(daemon, ['pull', `${proxy.host}/${busybox.repository}:latest`]);
  t.not(pulled.code, 0);
  t.regex(pulled.stderr, /Unavailable.*nothing received for 1000 ms/);
  t.deepEqual(await storeEntries(daemon), { layers: [], images: [], staging: [] });
});

test('basic auth: credentials from the request are used, and a wrong password is refused without leaving anything', async (t) => {
  const basic = await startRegistry(t, { auth: 'basic' });
  const published = await publishTestImages(basic);
  const daemon = await imageDaemon(t, [basic.host]);
  const wrong = await crictl(daemon, ['pull', '--creds', `${REGISTRY_CREDENTIALS.username}:not-the-password`, published.busybox.reference]);
  t.not(wrong.code, 0);
  t.regex(wrong.stderr, /PermissionDenied/);
  t.false(wrong.stderr.includes('not-the-password'), 'the password is never echoed');
  t.deepEqual(await storeEntries(daemon), { layers: [], images: [], staging: [] });
  const right = await crictl(daemon, [
    'pull',
    '--creds',
    `${REGISTRY_CREDENTIALS.username}:${REGISTRY_CREDENTIALS.password}`,
    published.busybox.reference,
  ]);
  t.is(right.code, 0, right.stderr);
});

test('token auth: the bearer challenge is answered with a token from the realm', async (t) => {
  const tokenRegistry = await startRegistry(t, { auth: 'token' });
  const published = await publishTestImages(tokenRegistry);
  const daemon = await imageDaemon(t, [tokenRegistry.host]);
  const anonymous = await crictl(daemon, ['pull', published.busybox.reference]);
  t.not(anonymous.code, 0, 'the token service refuses anonymous pulls');
  const pulled = await crictl(daemon, [
    'pull',
    '--creds',
    `${REGISTRY_CREDENTIALS.username}:${REGISTRY_CREDENTIALS.password}`,
    published.busybox.reference,
  ]);
  t.is(pulled.code, 0, pulled.stderr);
  t.true(
    tokenRegistry.tokenService!.requests.some((request) => request.granted),
    'a token was issued',
  );
});

test('credentials from image.auth_file (kubelet config.json format) are used when the request carries none', async (t) => {
  const basic = await startRegistry(t, { auth: 'basic' });
  const published = await publishTestImages(basic);
  const dir = await mkdtemp(path.join(tmpdir(), 'crion-authfile-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const authFile = path.join(dir, 'config.json');
  const auth = Buffer.from(`${REGISTRY_CREDENTIALS.username}:${REGISTRY_CREDENTIALS.password}`).toString('base64');
  await writeFile(authFile, JSON.stringify({ auths: { [basic.host]: { auth } } }));
  const daemon = await startDaemon(t, {
    config: `[image]\nregistries_conf_dir = "/nonexistent"\nauth_file = "${authFile}"\n`,
    args: ['--image-registries-conf', await writeRegistriesConf(t, [basic.host])],
  });
  const pulled = await crictl(daemon, ['pull', published.busybox.reference]);
  t.is(pulled.code, 0, pulled.stderr);
});

test('a mirror that lacks the image hands over to the origin; short names resolve through the search registries', async (t) => {
  const emptyMirror = await startRegistry(t);
  const dir = await mkdtemp(path.join(tmpdir(), 'crion-mirror-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const conf = path.join(dir, 'registries.conf');
  await writeFile(
    conf,
    [
      `unqualified-search-registries = ["${registry.host}"]`,
      `[[registry]]`,
      `location = "${registry.host}"`,
      `insecure = true`,
      `[[registry.mirror]]`,
      `location = "${emptyMirror.host}"`,
      `insecure = true`,
      '',
    ].join('\n'),
  );
  const daemon = await startDaemon(t, {
    config: `[image]\nregistries_conf = "${conf}"\nregistries_conf_dir = "/nonexistent"\n`,
  });
  const pulled = await crictl(daemon, ['pull', 'crion-test/busybox']);
  t.is(pulled.code, 0, pulled.stderr);
  const { status } = await crictlJson<{ status: CriImage }>(daemon, ['inspecti', 'crion-test/busybox']);
  t.is(status.id, images.busybox.configDigest);
  t.deepEqual(status.repoTags, [images.busybox.reference], 'the repo tag is the fully qualified name');
});

test('a malformed registries.conf stops the daemon at start, naming the file', async (t) => {
  const dir = await mkdtemp(path.join(tmpdir(), 'crion-badconf-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const conf = path.join(dir, 'registries.conf');
  await writeFile(conf, '[[registry]]\nlocation = "example.com"\nbogus-key = true\n');
  const daemon = await spawnDaemon({
    config: `[image]\nregistries_conf = "${conf}"\nregistries_conf_dir = "/nonexistent"\n`,
  });
  t.teardown(() => daemon.dispose());
  const status = await daemon.waitExit();
  t.not(status.code, 0);
  t.true(daemon.stderr.includes(conf), daemon.stderr);
  t.regex(daemon.stderr, /bogus-key/);
});
