import test from 'ava';
import { Command } from 'commander';
import {
  addConfigOptions,
  ConfigError,
  configSourcesFrom,
  DEFAULT_CONFIG_DIR,
  DEFAULT_CONFIG_FILE,
  loadConfig,
  overridesFrom,
} from '../../src/config/index.js';
import { writeConfigFiles } from '../fixtures/config/temp-config.js';

function parseFlags(...argv: string[]) {
  return addConfigOptions(new Command('daemon').exitOverride()).parse(argv, { from: 'user' }).opts();
}

async function configFrom(t: Parameters<typeof writeConfigFiles>[0], toml: string | null, ...argv: string[]) {
  const sources = await writeConfigFiles(t, toml);
  return (await loadConfig(sources, overridesFrom(parseFlags(...argv)))).config;
}

test('without --config and --config-dir the default locations are used, and may be absent', (t) => {
  t.deepEqual(configSourcesFrom(parseFlags()), {
    configFile: DEFAULT_CONFIG_FILE,
    configDir: DEFAULT_CONFIG_DIR,
    fileExplicit: false,
  });
  t.deepEqual(configSourcesFrom(parseFlags('--config', '/tmp/c.conf', '--config-dir', '/tmp/c.d')), {
    configFile: '/tmp/c.conf',
    configDir: '/tmp/c.d',
    fileExplicit: true,
  });
});

test('no flags means no overrides', (t) => {
  t.deepEqual(overridesFrom(parseFlags('--config', '/tmp/c.conf')), []);
});

test('flags beat files, and keys a flag does not set keep the file value', async (t) => {
  const config = await configFrom(
    t,
    'root = "/srv/crion"\n[log]\nlevel = "debug"\n',
    '--log-level',
    'error',
    '--image-max-concurrent-downloads',
    '3',
  );
  t.is(config.log.level, 'error');
  t.is(config.root, '/srv/crion');
  t.is(config.image.maxConcurrentDownloads, 3);
});

test('--listen takes a bare socket path and keeps it as a unix:// URL', async (t) => {
  const config = await configFrom(t, null, '--listen', '/tmp/crion.sock');
  t.is(config.listen, 'unix:///tmp/crion.sock');
});

test('every kind of value can be given as a flag', async (t) => {
  const config = await configFrom(
    t,
    null,
    '--root=/srv/crion',
    '--listen',
    'unix:///tmp/crion.sock',
    '--runtime-cgroup-driver',
    'systemd',
    '--runtime-restrict-oom-score-adj',
    'false',
    '--image-pinned-images',
    'registry.k8s.io/pause:3.10,quay.io/mine/*',
    '--network-cni-plugin-dirs',
    '',
    '--network-init-default-network',
    '--streaming-port',
    '10010',
  );
  t.is(config.root, '/srv/crion');
  t.is(config.listen, 'unix:///tmp/crion.sock');
  t.is(config.runtime.cgroupDriver, 'systemd');
  t.is(config.runtime.restrictOomScoreAdj, false);
  t.deepEqual(config.image.pinnedImages, ['registry.k8s.io/pause:3.10', 'quay.io/mine/*']);
  t.deepEqual(config.network.cniPluginDirs, []);
  t.true(config.network.initDefaultNetwork);
  t.is(config.streaming.port, 10010);
});

test('a boolean flag takes an explicit false', async (t) => {
  const config = await configFrom(t, '[network]\ninit_default_network = true\n', '--network-init-default-network', 'false');
  t.false(config.network.initDefaultNetwork);
});

const rejected: ReadonlyArray<readonly [argv: readonly [flag: string, value: string], key: string, reason: RegExp]> = [
  [['--log-level', 'verbose'], 'log.level', /expected one of .*, got "verbose"/],
  [['--image-max-concurrent-downloads', '0'], 'image.max_concurrent_downloads', /from 1 to 64, got 0/],
  [['--streaming-port', 'http'], 'streaming.port', /from 0 to 65535, got "http"/],
  [['--streaming-port', '8.5'], 'streaming.port', /from 0 to 65535, got "8.5"/],
  [['--state', 'run/crion'], 'state', /an absolute path/],
  [['--network-init-default-network', 'yes'], 'network.init_default_network', /true or false, got "yes"/],
  [['--network-cni-plugin-dirs', '/opt/cni/bin,bin'], 'network.cni_plugin_dirs', /^item 1: expected an absolute path, got "bin"/],
  [['--network-default-subnet', '10.88.0.0'], 'network.default_subnet', /CIDR/],
];

for (const [argv, key, reason] of rejected) {
  test(`rejects ${argv.join(' ')}, naming the flag and the key`, (t) => {
    const error = t.throws(() => overridesFrom(parseFlags(...argv)), { instanceOf: ConfigError });
    t.is(error.source, argv[0]);
    t.is(error.key, key);
    t.regex(error.reason, reason);
    t.is(error.message, `${argv[0]}: ${key}: ${error.reason}`);
  });
}

test('an unknown default handler given as a flag names the flag', async (t) => {
  const sources = await writeConfigFiles(t, null);
  const overrides = overridesFrom(parseFlags('--runtime-default-handler', 'kata'));
  const error = await t.throwsAsync(loadConfig(sources, overrides), { instanceOf: ConfigError });
  t.is(error.message, '--runtime-default-handler: runtime.default_handler: no [runtime.handlers.kata] is configured');
});

test('--runtime-handler adds a handler and sets fields of a built-in one', async (t) => {
  const config = await configFrom(
    t,
    null,
    '--runtime-handler',
    'kata:path=/usr/bin/kata-runtime,root=/run/kata',
    '--runtime-handler',
    'runc:root=/run/crion-runc',
    '--runtime-default-handler',
    'kata',
  );
  t.deepEqual(config.runtime.handlers['kata'], { path: '/usr/bin/kata-runtime', root: '/run/kata' });
  t.deepEqual(config.runtime.handlers.runc, { path: 'runc', root: '/run/crion-runc' });
  t.is(config.runtime.defaultHandler, 'kata');
});

test('--runtime-handler can complete a handler a file started', async (t) => {
  const config = await configFrom(t, '[runtime.handlers.youki]\npath = "youki"\n', '--runtime-handler', 'youki:root=/run/youki');
  t.deepEqual(config.runtime.handlers['youki'], { path: 'youki', root: '/run/youki' });
});

const rejectedHandlers: ReadonlyArray<readonly [value: string, key: string, reason: RegExp]> = [
  ['kata=/usr/bin/kata-runtime', 'runtime.handlers', /^expected name:path=\.\.\.,root=\.\.\., got "kata=\/usr\/bin\/kata-runtime"$/],
  ['kata:/usr/bin/kata-runtime', 'runtime.handlers', /^expected name:path=/],
  ['Kata:path=kata,root=/run/kata', 'runtime.handlers.Kata', /name must match/],
  ['kata:bin=kata', 'runtime.handlers.kata.bin', /^unknown key$/],
  ['kata:path=kata,root=run/kata', 'runtime.handlers.kata.root', /an absolute path/],
];

for (const [value, key, reason] of rejectedHandlers) {
  test(`rejects --runtime-handler ${value}`, (t) => {
    const error = t.throws(() => overridesFrom(parseFlags('--runtime-handler', value)), { instanceOf: ConfigError });
    t.is(error.source, '--runtime-handler');
    t.is(error.key, key);
    t.regex(error.reason, reason);
  });
}

test('a handler added by flag without a root names the flag', async (t) => {
  const sources = await writeConfigFiles(t, null);
  const overrides = overridesFrom(parseFlags('--runtime-handler', 'kata:path=kata-runtime'));
  const error = await t.throwsAsync(loadConfig(sources, overrides), { instanceOf: ConfigError });
  t.is(error.source, '--runtime-handler');
  t.is(error.key, 'runtime.handlers.kata.root');
});

test('help shows each flag with its description and default', (t) => {
  const help = addConfigOptions(new Command('daemon')).helpInformation();
  t.regex(help, /--log-level <trace\|debug\|info\|warn\|error\|fatal>\s+Least severe level that is written\. \(default: info\)/);
  t.regex(help, /--network-cni-plugin-dirs <path,\.\.\.>\s+.*\(default: \/opt\/cni\/bin,\/usr\/lib\/cni\)/);
  t.regex(help, /--network-init-default-network \[bool\]/);
  t.regex(help, /--runtime-handler <name:path=\.\.\.,root=\.\.\.>/);
  t.regex(help, /--config <file>/);
  t.regex(help, /--config-dir <dir>/);
});
