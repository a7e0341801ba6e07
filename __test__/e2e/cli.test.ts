import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { parse as parseToml } from 'smol-toml';
import { spawnDaemon, startDaemon } from '../helpers/daemon.js';
import { run } from '../helpers/process.js';
import { crionBin, packageVersion, repoRoot } from '../helpers/repo.js';

function crion(args: readonly string[]) {
  return run(process.execPath, [crionBin, ...args], { cwd: repoRoot, timeoutMs: 30_000 });
}

test('crion version prints the package version', async (t) => {
  const result = await crion(['version']);
  t.is(result.code, 0, result.stderr);
  t.true(result.stdout.includes(packageVersion), result.stdout);
});

test('crion config prints TOML that crion daemon --config accepts back', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'crion-e2e-config-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const empty = path.join(dir, 'empty.conf');
  await writeFile(empty, '');

  const printed = await crion(['config', '--config-dir', '/nonexistent', '--config', empty]);
  t.is(printed.code, 0, printed.stderr);
  t.notThrows(() => parseToml(printed.stdout), printed.stdout);

  const daemon = await startDaemon(t, { config: printed.stdout });
  t.is(await daemon.stop(), 0, daemon.stderr);
});

test('crion network init writes the bridge network once, with the configured subnet and a lease dir under state', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'crion-e2e-netinit-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const empty = path.join(dir, 'empty.conf');
  await writeFile(empty, '');
  const args = [
    'network',
    'init',
    '--config',
    empty,
    '--config-dir',
    '/nonexistent',
    '--state',
    path.join(dir, 'state'),
    '--network-cni-config-dir',
    path.join(dir, 'net.d'),
    '--network-default-subnet',
    '10.123.48.0/24',
  ];
  const first = await crion(args);
  t.is(first.code, 0, first.stderr);
  const file = path.join(dir, 'net.d', '99-crion-bridge.conflist');
  t.is(first.stdout, `wrote ${file}\n`);
  const network = JSON.parse(await readFile(file, 'utf8')) as { plugins: Array<{ type: string; ipam?: unknown }> };
  t.deepEqual(
    network.plugins.map((plugin) => plugin.type),
    ['bridge', 'portmap'],
  );
  t.like(network.plugins[0]?.ipam, { ranges: [[{ subnet: '10.123.48.0/24' }]], dataDir: path.join(dir, 'state', 'cni', 'networks') });

  const second = await crion(args);
  t.is(second.code, 0, second.stderr);
  t.regex(second.stdout, /already holds a network config; nothing written/);
});

const malformed = [
  { name: 'a value of the wrong type', config: '[log]\nlevel = 42\n', key: 'log.level' },
  { name: 'an unknown key', config: 'bogus = 1\n', key: 'bogus' },
];

for (const { name, config, key } of malformed) {
  test(`crion daemon refuses a config file with ${name}, naming the file and "${key}"`, async (t) => {
    const daemon = await spawnDaemon({ config });
    t.teardown(() => daemon.dispose());
    const status = await daemon.waitExit();
    t.not(status.code, 0, daemon.stderr);
    t.true(daemon.stderr.includes(daemon.configPath), `stderr does not name ${daemon.configPath}:\n${daemon.stderr}`);
    t.true(daemon.stderr.includes(key), `stderr does not name ${key}:\n${daemon.stderr}`);
  });
}

test('a malformed drop-in in --config-dir is reported with its own path', async (t) => {
  const daemon = await spawnDaemon({ configDirFiles: { '10-bad.conf': '[log]\nlevel = 42\n' } });
  t.teardown(() => daemon.dispose());
  const status = await daemon.waitExit();
  t.not(status.code, 0, daemon.stderr);
  const dropIn = path.join(daemon.configDir, '10-bad.conf');
  t.true(daemon.stderr.includes(dropIn), `stderr does not name ${dropIn}:\n${daemon.stderr}`);
  t.true(daemon.stderr.includes('log.level'), daemon.stderr);
});

test('a bare socket path is a unix socket to crion daemon --listen and to the CLI, as to crictl', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'crion-e2e-bare-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const socketPath = path.join(dir, 'bare.sock');
  // Given after the harness's own unix:// --listen, so this one is what the daemon serves.
  await startDaemon(t, { socketPath, args: ['--listen', socketPath] });
  const listed = await crion(['images', '--listen', socketPath]);
  t.is(listed.code, 0, listed.stderr);
  t.regex(listed.stdout, /^IMAGE\s+IMAGE ID\s+SIZE/);
});

test('with no daemon on the socket, the CLI says it cannot reach the daemon at that endpoint and why', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'crion-e2e-down-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const endpoint = `unix://${path.join(dir, 'crion.sock')}`;
  const missing = await crion(['images', '--listen', endpoint]);
  t.is(missing.code, 1);
  t.is(missing.stderr, `crion: cannot reach the crion daemon at ${endpoint}: no socket there (ENOENT); is the daemon running?\n`);

  // A daemon killed outright leaves its socket behind with nobody accepting on it.
  const daemon = await startDaemon(t, { socketPath: path.join(dir, 'crion.sock') });
  daemon.signal('SIGKILL');
  await daemon.waitExit();
  const stale = await crion(['rmi', 'app:1', '--listen', endpoint]);
  t.is(stale.code, 1);
  t.regex(
    stale.stderr,
    new RegExp(`^crion: cannot reach the crion daemon at ${endpoint}: nothing accepts connections on the socket \\(ECONNREFUSED\\)`),
  );
});

test('a user the socket is closed to is told permission was denied (EACCES)', async (t) => {
  const daemon = await startDaemon(t);
  const nobody = await run(
    'setpriv',
    ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, crionBin, 'images', '--listen', daemon.endpoint],
    { cwd: repoRoot },
  );
  t.is(nobody.code, 1, nobody.stderr);
  t.regex(nobody.stderr, new RegExp(`^crion: cannot reach the crion daemon at ${daemon.endpoint}: permission denied \\(EACCES\\)`));
});
