import test from 'ava';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startDaemon } from '../helpers/daemon.js';
import { run } from '../helpers/process.js';
import { startRegistry } from '../helpers/registry.js';
import { crionBin } from '../helpers/repo.js';
import { publishTestImages } from '../helpers/test-images.js';

/** `crion pull`, `crion images`, `crion rmi` against a running daemon, and the admin socket's pull board they use. */

async function setUp(t: Parameters<typeof startDaemon>[0]) {
  const registry = await startRegistry(t);
  const images = await publishTestImages(registry);
  const dir = await mkdtemp(path.join(tmpdir(), 'crion-cli-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const registriesConf = path.join(dir, 'registries.conf');
  await writeFile(registriesConf, `[[registry]]\nlocation = "${registry.host}"\ninsecure = true\n`);
  const daemon = await startDaemon(t, {
    config: `[image]\nregistries_conf = "${registriesConf}"\nregistries_conf_dir = "/nonexistent"\n`,
  });
  const crion = (...args: string[]) => run(process.execPath, [crionBin, ...args, '--listen', daemon.endpoint]);
  return { images, daemon, crion };
}

test('crion pull reports each layer as it goes and prints the image ID; images and rmi follow', async (t) => {
  const { images, crion } = await setUp(t);
  const { multilayer } = images;
  const pulled = await crion('pull', multilayer.reference);
  t.is(pulled.code, 0, pulled.stderr);
  t.is(pulled.stdout.trim(), multilayer.configDigest);
  for (const layer of multilayer.layers) {
    const short = layer.digest.slice('sha256:'.length, 'sha256:'.length + 12);
    // Stage changes are never coalesced, so even a tiny layer shows each stage.
    t.regex(pulled.stderr, new RegExp(`${short} downloading`), 'a plain line per stage when not on a terminal');
    t.regex(pulled.stderr, new RegExp(`${short} unpacking`));
    t.regex(pulled.stderr, new RegExp(`${short} done`));
  }
  t.regex(pulled.stderr, /: done$/m);

  const listed = await crion('images');
  t.is(listed.code, 0, listed.stderr);
  t.regex(listed.stdout, new RegExp(`${multilayer.reference.replace(/[.]/g, '\\.')}\\s+${multilayer.configDigest.slice(7, 19)}`));

  const removed = await crion('rmi', multilayer.reference);
  t.is(removed.code, 0, removed.stderr);
  t.notRegex((await crion('images')).stdout, /multilayer/);
});

test("crion pull fails with the daemon's own message", async (t) => {
  const { images, crion } = await setUp(t);
  const pulled = await crion('pull', images.hostile.reference);
  t.not(pulled.code, 0);
  t.regex(pulled.stderr, /^crion: .*(escape|outside)/m);
  t.regex(pulled.stderr, /: failed$/m);
});

test('a pull from a registry host that does not exist blames the registry, naming the daemon that reported it', async (t) => {
  const daemon = await startDaemon(t);
  const image = 'nosuch.invalid/app:1';
  const pulled = await run(process.execPath, [crionBin, 'pull', image, '--listen', daemon.endpoint]);
  t.not(pulled.code, 0);
  t.regex(
    pulled.stderr,
    new RegExp(`^crion: crion daemon at ${daemon.endpoint}: pull of ${image} failed: .*nosuch\\.invalid: no such host \\(ENOTFOUND\\)$`, 'm'),
  );
  t.notRegex(pulled.stderr, /cannot reach/);
});

test('crion rmi of an image the daemon does not have says so and fails', async (t) => {
  const daemon = await startDaemon(t);
  const removed = await run(process.execPath, [crionBin, 'rmi', 'nosuch:1', '--listen', daemon.endpoint]);
  t.is(removed.code, 1);
  t.is(removed.stderr, 'crion: no such image: nosuch:1\n');
  t.is(removed.stdout, '');
});

test('CRION_ENDPOINT names the daemon when --listen is not given, and --listen wins over it', async (t) => {
  const daemon = await startDaemon(t);
  const withEnv = (endpoint: string, ...args: string[]) =>
    run(process.execPath, [crionBin, 'images', ...args], { env: { ...process.env, CRION_ENDPOINT: endpoint } });
  const fromEnv = await withEnv(daemon.socketPath);
  t.is(fromEnv.code, 0, fromEnv.stderr);
  t.regex(fromEnv.stdout, /^IMAGE\s+IMAGE ID\s+SIZE/);
  const flagWins = await withEnv('unix:///nonexistent/crion.sock', '--listen', daemon.endpoint);
  t.is(flagWins.code, 0, flagWins.stderr);
  const envUsed = await withEnv('unix:///nonexistent/crion.sock');
  t.is(envUsed.stderr, 'crion: cannot reach the crion daemon at unix:///nonexistent/crion.sock: no socket there (ENOENT); is the daemon running?\n');
});

test('the admin socket serves the pull board as JSON', async (t) => {
  const { images, daemon, crion } = await setUp(t);
  t.is((await crion('pull', images.busybox.reference)).code, 0);
  const progressSocket = path.join(path.dirname(daemon.socketPath), 'crion-admin.sock');
  const body = await new Promise<string>((resolve, reject) => {
    const call = request({ socketPath: progressSocket, path: '/v1/pulls' }, (response) => {
      let text = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
      response.on('end', () => resolve(text));
    });
    call.on('error', reject);
    call.end();
  });
  const pulls = JSON.parse(body) as Array<{ image: string; stage: string; imageId: string }>;
  t.like(
    pulls.find((pull) => pull.image === images.busybox.reference),
    { stage: 'done', imageId: images.busybox.configDigest },
  );
});
