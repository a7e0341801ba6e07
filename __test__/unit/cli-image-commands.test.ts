import test from 'ava';
import { endpointOf, removeImages, type ImageRemover } from '../../src/cli/image-commands.js';
import { writeConfigFiles } from '../fixtures/config/temp-config.js';

/** A daemon holding `present`, answering as CRI does: RemoveImage of a missing image succeeds. */
function fakeDaemon(present: string[]): ImageRemover & { removed: string[] } {
  const store = new Set(present);
  const removed: string[] = [];
  return {
    removed,
    status: async (image) => (store.has(image) ? { id: `sha256:${image}` } : null),
    remove: async (image) => {
      store.delete(image);
      removed.push(image);
    },
  };
}

test('rmi removes the images that exist and returns the names that matched none, without calling remove for them', async (t) => {
  const daemon = fakeDaemon(['app:1', 'app:2']);
  const printed: string[] = [];
  const missing = await removeImages(daemon, ['app:1', 'nosuch:1', 'app:2'], (line) => printed.push(line));
  t.deepEqual(missing, ['nosuch:1']);
  t.deepEqual(daemon.removed, ['app:1', 'app:2']);
  t.deepEqual(printed, ['removed app:1', 'removed app:2']);
});

async function configOptions(t: Parameters<typeof writeConfigFiles>[0], listen: string) {
  const { configFile, configDir } = await writeConfigFiles(t, `listen = "${listen}"\n`);
  return { config: configFile, configDir };
}

test('the endpoint is --listen, else $CRION_ENDPOINT, else the config files', async (t) => {
  const files = await configOptions(t, 'unix:///run/from-config.sock');
  const env = { CRION_ENDPOINT: 'unix:///run/from-env.sock' };
  t.is(await endpointOf({ ...files, listen: 'unix:///run/from-flag.sock' }, env), 'unix:///run/from-flag.sock');
  t.is(await endpointOf(files, env), 'unix:///run/from-env.sock');
  t.is(await endpointOf(files, {}), 'unix:///run/from-config.sock');
  t.is(await endpointOf(files, { CRION_ENDPOINT: '' }), 'unix:///run/from-config.sock', 'set but empty counts as unset');
});

test('$CRION_ENDPOINT and --listen take a bare path, and a bad value names where it came from', async (t) => {
  t.is(await endpointOf({}, { CRION_ENDPOINT: '/run/bare.sock' }), 'unix:///run/bare.sock');
  t.is(await endpointOf({ listen: '/run/bare.sock' }, {}), 'unix:///run/bare.sock');
  await t.throwsAsync(endpointOf({}, { CRION_ENDPOINT: 'localhost:1234' }), { message: /^CRION_ENDPOINT: expected .*; got "localhost:1234"$/ });
  await t.throwsAsync(endpointOf({ listen: 'crion.sock' }, {}), { message: /^--listen: expected .*; got "crion.sock"$/ });
});
