import test from 'ava';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { publishBigImage } from '../helpers/big-image.js';
import { crictl, crictlJson } from '../helpers/crictl.js';
import { startDaemon } from '../helpers/daemon.js';
import { startRegistry } from '../helpers/registry.js';

/**
 * kill -9 of the daemon in the middle of a pull: the next start must find
 * no image and no layer that looks complete, clean the leftovers, and pull
 * the image again from scratch.
 */
test('a pull cut by kill -9 leaves nothing that looks complete, and the next start cleans up', async (t) => {
  const registry = await startRegistry(t);
  const big = await publishBigImage(registry, { totalBytes: 64 * 1024 * 1024, layers: 4, seed: 'crion-crash-test' });
  const dir = await mkdtemp(path.join(tmpdir(), 'crion-crash-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const registriesConf = path.join(dir, 'registries.conf');
  await writeFile(registriesConf, `[[registry]]\nlocation = "${registry.host}"\ninsecure = true\n`);
  const root = path.join(dir, 'root');
  const config = `[image]\nregistries_conf = "${registriesConf}"\nregistries_conf_dir = "/nonexistent"\n`;
  const staging = path.join(root, 'overlay', 'staging');

  // Both daemons share one root; a later --root wins over the helper's own.
  const first = await startDaemon(t, { config, args: ['--root', root] });
  const pull = crictl(first, ['pull', big.reference]);
  // Wait until the pull has something on disk, then cut it off.
  for (let waited = 0; (await readdir(staging)).length === 0; waited += 10) {
    if (waited > 60_000) t.fail('the pull never started writing');
    await sleep(10);
  }
  first.signal('SIGKILL');
  await first.waitExit();
  t.not((await pull).code, 0);
  t.true((await readdir(path.join(root, 'images'))).length === 0, 'no image record was written');

  const second = await startDaemon(t, { config, args: ['--root', root] });
  t.deepEqual((await crictlJson<{ images: unknown[] }>(second, ['images'])).images, []);
  t.deepEqual(await readdir(staging), [], 'staging leftovers are removed at start');
  t.deepEqual(await readdir(path.join(root, 'overlay', 'layers')), [], 'layers no image uses are collected');

  const again = await crictl(second, ['pull', big.reference]);
  t.is(again.code, 0, again.stderr);
  t.regex(again.stdout, new RegExp(big.configDigest));
});
