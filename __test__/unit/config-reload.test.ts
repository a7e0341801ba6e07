import test from 'ava';
import { applyReloadableChanges, defaultConfig, diffConfig, loadConfig } from '../../src/config/index.js';
import { writeConfigFiles } from '../fixtures/config/temp-config.js';

async function configOf(t: Parameters<typeof writeConfigFiles>[0], toml: string) {
  return (await loadConfig(await writeConfigFiles(t, toml), [])).config;
}

test('identical configs have no changes', async (t) => {
  t.deepEqual(diffConfig(defaultConfig(), await configOf(t, '[log]\nlevel = "info"\n')), []);
});

test('each changed key is listed with whether SIGHUP can apply it', async (t) => {
  const after = await configOf(t, '[log]\nlevel = "debug"\nformat = "text"\n[network]\ncni_plugin_dirs = ["/opt/cni/bin"]\n');
  t.deepEqual(diffConfig(defaultConfig(), after), [
    { key: 'log.level', from: 'info', to: 'debug', reloadable: true },
    { key: 'log.format', from: 'json', to: 'text', reloadable: false },
    { key: 'network.cni_plugin_dirs', from: ['/opt/cni/bin', '/usr/lib/cni'], to: ['/opt/cni/bin'], reloadable: false },
  ]);
});

test('an added handler shows as new keys and a removed one as keys that are gone', async (t) => {
  const withKata = await configOf(t, '[runtime.handlers.kata]\npath = "kata-runtime"\nroot = "/run/kata"\n');
  t.deepEqual(diffConfig(defaultConfig(), withKata), [
    { key: 'runtime.handlers.kata.path', from: null, to: 'kata-runtime', reloadable: false },
    { key: 'runtime.handlers.kata.root', from: null, to: '/run/kata', reloadable: false },
  ]);
  t.deepEqual(
    diffConfig(withKata, defaultConfig()).map(({ key, to }) => [key, to]),
    [
      ['runtime.handlers.kata.path', null],
      ['runtime.handlers.kata.root', null],
    ],
  );
});

test('applying a reload takes only the reloadable keys from the re-read config', async (t) => {
  const reread = await configOf(t, '[log]\nlevel = "debug"\nformat = "text"\n[streaming]\nport = 10010\n');
  const inEffect = applyReloadableChanges(defaultConfig(), reread);
  t.is(inEffect.log.level, 'debug');
  t.is(inEffect.log.format, 'json');
  t.is(inEffect.streaming.port, 0);
  t.true(Object.isFrozen(inEffect.log));
  t.deepEqual(diffConfig(defaultConfig(), inEffect), [{ key: 'log.level', from: 'info', to: 'debug', reloadable: true }]);
  t.is(defaultConfig().log.level, 'info');
});
