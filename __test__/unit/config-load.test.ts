import path from 'node:path';
import test from 'ava';
import { Command } from 'commander';
import { addConfigOptions, ConfigError, defaultConfig, loadConfig, overridesFrom, renderConfig } from '../../src/config/index.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { writeConfigFiles } from '../fixtures/config/temp-config.js';

test('no file and no drop-in directory gives the built-in defaults', async (t) => {
  const sources = await writeConfigFiles(t, null);
  const { config, files } = await loadConfig(sources, []);
  t.deepEqual(config, defaultConfig());
  t.deepEqual(files, []);
  t.is(config.root, '/var/lib/crion');
  t.is(config.listen, 'unix:///run/crion/crion.sock');
  t.is(config.log.level, 'info');
  t.is(config.runtime.defaultHandler, 'runc');
  t.deepEqual(config.runtime.handlers.crun, { path: 'crun', root: '/run/crun' });
  t.is(config.image.maxConcurrentDownloads, 6);
  t.deepEqual(config.network.cniPluginDirs, ['/opt/cni/bin', '/usr/lib/cni']);
  t.is(config.streaming.port, 0);
  t.deepEqual(config.metrics, { enabled: false, address: '127.0.0.1:9090', socket: '' });
});

test('the config is deeply frozen', (t) => {
  const config = defaultConfig();
  t.true(Object.isFrozen(config.runtime.handlers.runc));
  t.true(Object.isFrozen(config.network.cniPluginDirs));
});

test('drop-ins apply after the main file in lexical order, each overriding only the keys it sets', async (t) => {
  const sources = await writeConfigFiles(t, '[log]\nlevel = "debug"\nformat = "text"\n[image]\nmax_concurrent_downloads = 10\n', {
    '10-late.conf': '[log]\nlevel = "warn"\n',
    '02-early.conf': '[log]\nlevel = "error"\n[image]\nmax_concurrent_downloads = 20\n',
    'ignored.conf.bak': 'this is not read = [',
  });
  const { config, files } = await loadConfig(sources, []);
  t.deepEqual(files, [sources.configFile, path.join(sources.configDir, '02-early.conf'), path.join(sources.configDir, '10-late.conf')]);
  t.is(config.log.level, 'warn');
  t.is(config.log.format, 'text');
  t.is(config.image.maxConcurrentDownloads, 20);
  t.is(config.image.unpack, 'native');
});

test('a file named by --config must exist', async (t) => {
  const sources = await writeConfigFiles(t, null);
  const error = await t.throwsAsync(loadConfig({ ...sources, fileExplicit: true }, []), { instanceOf: ConfigError });
  t.is(error.source, sources.configFile);
  t.is(error.key, null);
  t.is(error.message, `${sources.configFile}: no such file`);
  t.true(error instanceof InvalidArgumentError);
});

test('a drop-in directory that does not exist is empty', async (t) => {
  const sources = await writeConfigFiles(t, 'root = "/srv/crion"\n');
  const { config } = await loadConfig({ ...sources, configDir: path.join(sources.configDir, 'missing') }, []);
  t.is(config.root, '/srv/crion');
});

test('a TOML syntax error names the file and the line', async (t) => {
  const sources = await writeConfigFiles(t, 'root = "/x"\nstate = "/run\n');
  const error = await t.throwsAsync(loadConfig(sources, []), { instanceOf: ConfigError });
  t.is(error.key, null);
  t.regex(error.message, new RegExp(`^${sources.configFile}: invalid TOML at line 2, column \\d+: `));
});

const rejected: ReadonlyArray<readonly [title: string, toml: string, key: string, reason: RegExp]> = [
  ['an unknown top-level key', 'roots = "/x"\n', 'roots', /^unknown key$/],
  ['an unknown key in a table', '[log]\nlevle = "debug"\n', 'log.levle', /^unknown key$/],
  ['an unknown table', '[logging]\nlevel = "debug"\n', 'logging', /^unknown key$/],
  ['an unknown handler field', '[runtime.handlers.runc]\nbinary = "/x"\n', 'runtime.handlers.runc.binary', /^unknown key$/],
  [
    'a string for an integer',
    '[image]\nmax_concurrent_downloads = "6"\n',
    'image.max_concurrent_downloads',
    /expected an integer from 1 to 64, got "6"/,
  ],
  ['a float for an integer', '[streaming]\nport = 80.0\n', 'streaming.port', /expected an integer from 0 to 65535, got 80\.0/],
  ['a string for a boolean', '[network]\ninit_default_network = "yes"\n', 'network.init_default_network', /expected true or false, got "yes"/],
  ['a string for a list', '[network]\ncni_plugin_dirs = "/opt/cni/bin"\n', 'network.cni_plugin_dirs', /expected an array of strings/],
  ['a value where a table belongs', 'log = "debug"\n', 'log', /^expected a table$/],
  ['a relative root', 'root = "var/lib/crion"\n', 'root', /expected an absolute path, got "var\/lib\/crion"/],
  ['a TCP listen address', 'listen = "tcp://127.0.0.1:1234"\n', 'listen', /"unix:\/\/" followed by an absolute path/],
  ['a relative unix socket', 'listen = "unix://run/crion.sock"\n', 'listen', /"unix:\/\/" followed by an absolute path/],
  ['an unknown log level', '[log]\nlevel = "verbose"\n', 'log.level', /expected one of "trace", .*"fatal", got "verbose"/],
  ['an unknown default handler', '[runtime]\ndefault_handler = "kata"\n', 'runtime.default_handler', /no \[runtime\.handlers\.kata\] is configured/],
  ['an invalid name on an empty handler table', '[runtime.handlers."kata runtime"]\n', 'runtime.handlers."kata runtime"', /name must match/],
  ['an invalid handler name', '[runtime.handlers.Kata]\npath = "kata"\nroot = "/run/kata"\n', 'runtime.handlers.Kata', /name must match/],
  [
    'a relative handler path with a slash',
    '[runtime.handlers.runc]\npath = "bin/runc"\n',
    'runtime.handlers.runc.path',
    /a command name or an absolute path/,
  ],
  ['a relative handler root', '[runtime.handlers.runc]\nroot = "run/runc"\n', 'runtime.handlers.runc.root', /an absolute path/],
  [
    'a handler without a root',
    '[runtime.handlers.kata]\npath = "kata-runtime"\n',
    'runtime.handlers.kata.root',
    /missing; every \[runtime\.handlers\] entry needs path and root/,
  ],
  ['an address for a subnet', '[network]\ndefault_subnet = "10.88.0.1"\n', 'network.default_subnet', /CIDR/],
  ['a prefix too long for IPv4', '[network]\ndefault_subnet = "10.88.0.0/33"\n', 'network.default_subnet', /CIDR/],
  ['a garbage subnet', '[network]\ndefault_subnet = "10.88.0/16"\n', 'network.default_subnet', /CIDR/],
  ['a port out of range', '[streaming]\nport = 70000\n', 'streaming.port', /from 0 to 65535, got 70000/],
  ['zero concurrent downloads', '[image]\nmax_concurrent_downloads = 0\n', 'image.max_concurrent_downloads', /from 1 to 64, got 0/],
  ['too many concurrent downloads', '[image]\nmax_concurrent_downloads = 65\n', 'image.max_concurrent_downloads', /from 1 to 64, got 65/],
  ['a host name as the streaming address', '[streaming]\naddress = "localhost"\n', 'streaming.address', /an IPv4 or IPv6 address/],
  ['a metrics address without a port', '[metrics]\naddress = "127.0.0.1"\n', 'metrics.address', /an IP address and a port/],
  ['a host name as the metrics address', '[metrics]\naddress = "localhost:9090"\n', 'metrics.address', /an IP address and a port/],
  ['an IPv6 metrics address without brackets', '[metrics]\naddress = "::1:9090"\n', 'metrics.address', /an IP address and a port/],
  ['metrics port 0', '[metrics]\naddress = "127.0.0.1:0"\n', 'metrics.address', /an IP address and a port/],
  ['a relative metrics socket', '[metrics]\nsocket = "metrics.sock"\n', 'metrics.socket', /an absolute path, or "" for none/],
  [
    'a pinned pattern with an inner star',
    '[image]\npinned_images = ["ok", "reg/*/pause"]\n',
    'image.pinned_images',
    /^item 1: expected an image name, or a prefix ending in "\*"/,
  ],
  ['a relative auth file', '[image]\nauth_file = "auth.json"\n', 'image.auth_file', /an absolute path, or "" for none/],
  ['a bad cgroup driver', '[runtime]\ncgroup_driver = "cgroupv2"\n', 'runtime.cgroup_driver', /one of "auto", "cgroupfs", "systemd"/],
  [
    'a string "true" for the oom tri-state',
    '[runtime]\nrestrict_oom_score_adj = "true"\n',
    'runtime.restrict_oom_score_adj',
    /"auto", true or false/,
  ],
];

for (const [title, toml, key, reason] of rejected) {
  test(`rejects ${title}, naming the file and the key`, async (t) => {
    const sources = await writeConfigFiles(t, toml);
    const error = await t.throwsAsync(loadConfig(sources, []), { instanceOf: ConfigError });
    t.is(error.source, sources.configFile);
    t.is(error.key, key);
    t.regex(error.reason, reason);
    t.is(error.message, `${sources.configFile}: ${key}: ${error.reason}`);
  });
}

test('a problem in a drop-in names the drop-in', async (t) => {
  const sources = await writeConfigFiles(t, '[log]\nlevel = "debug"\n', { '50-bad.conf': '[streaming]\nport = -1\n' });
  const error = await t.throwsAsync(loadConfig(sources, []), { instanceOf: ConfigError });
  t.is(error.source, path.join(sources.configDir, '50-bad.conf'));
  t.is(error.key, 'streaming.port');
});

test('a handler added in a file can be completed by a later drop-in and made the default', async (t) => {
  const sources = await writeConfigFiles(t, '[runtime.handlers.kata]\npath = "/usr/bin/kata-runtime"\n', {
    '10-kata.conf': '[runtime]\ndefault_handler = "kata"\n[runtime.handlers.kata]\nroot = "/run/kata"\n',
  });
  const { config } = await loadConfig(sources, []);
  t.is(config.runtime.defaultHandler, 'kata');
  t.deepEqual(config.runtime.handlers['kata'], { path: '/usr/bin/kata-runtime', root: '/run/kata' });
  t.deepEqual(Object.keys(config.runtime.handlers), ['runc', 'crun', 'runsc', 'kata']);
});

test('setting one field of a built-in handler keeps its other field', async (t) => {
  const sources = await writeConfigFiles(t, '[runtime.handlers.runc]\nroot = "/run/crion-runc"\n');
  const { config } = await loadConfig(sources, []);
  t.deepEqual(config.runtime.handlers.runc, { path: 'runc', root: '/run/crion-runc' });
});

test('a handler named like an Object.prototype property is an ordinary entry', async (t) => {
  const sources = await writeConfigFiles(t, '[runtime.handlers.constructor]\npath = "runc"\nroot = "/run/c"\n');
  const { config } = await loadConfig(sources, []);
  t.deepEqual(config.runtime.handlers['constructor'], { path: 'runc', root: '/run/c' });
});

test('a bare socket path as listen is kept as its unix:// URL', async (t) => {
  const sources = await writeConfigFiles(t, 'listen = "/run/other/crion.sock"\n');
  const { config } = await loadConfig(sources, []);
  t.is(config.listen, 'unix:///run/other/crion.sock');
});

test('IPv6 values are accepted', async (t) => {
  const sources = await writeConfigFiles(
    t,
    '[network]\ndefault_subnet = "fd00:88::/64"\n[streaming]\naddress = "::1"\n[metrics]\naddress = "[::1]:9100"\n',
  );
  const { config } = await loadConfig(sources, []);
  t.is(config.network.defaultSubnet, 'fd00:88::/64');
  t.is(config.streaming.address, '::1');
  t.is(config.metrics.address, '[::1]:9100');
});

test("the registry stall timeout and attempts: the client's former constants by default, set by file or flag, bounded", async (t) => {
  const defaults = defaultConfig();
  t.is(defaults.image.registryStallTimeoutSeconds, 60);
  t.is(defaults.image.registryAttempts, 4);
  t.regex(renderConfig(defaults), /\n# [^\n]*silence[^\n]*\n(?:# [^\n]*\n)*registry_stall_timeout_seconds = 60\n/);
  t.regex(renderConfig(defaults), /\n# [^\n]*first included[^\n]*\n(?:# [^\n]*\n)*registry_attempts = 4\n/);

  const sources = await writeConfigFiles(t, '[image]\nregistry_stall_timeout_seconds = 5\nregistry_attempts = 1\n');
  const fromFile = (await loadConfig(sources, [])).config;
  t.is(fromFile.image.registryStallTimeoutSeconds, 5);
  t.is(fromFile.image.registryAttempts, 1);
  const flags = addConfigOptions(new Command('daemon').exitOverride())
    .parse(['--image-registry-stall-timeout-seconds', '120', '--image-registry-attempts', '2'], { from: 'user' })
    .opts();
  const fromFlags = (await loadConfig(sources, overridesFrom(flags))).config;
  t.is(fromFlags.image.registryStallTimeoutSeconds, 120);
  t.is(fromFlags.image.registryAttempts, 2);

  for (const [toml, key] of [
    ['registry_stall_timeout_seconds = 0', 'image.registry_stall_timeout_seconds'],
    ['registry_attempts = 0', 'image.registry_attempts'],
  ] as const) {
    const bad = await writeConfigFiles(t, `[image]\n${toml}\n`);
    const error = await t.throwsAsync(loadConfig(bad, []), { instanceOf: ConfigError });
    t.is(error.key, key);
    t.regex(error.reason, /expected an integer from 1 to/);
  }
});
