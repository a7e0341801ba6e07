import test, { type ExecutionContext } from 'ava';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { defaultConfig, renderConfig } from '../../src/config/index.js';
import { ForeignUnitError, installService, uninstallService, type ServiceHost } from '../../src/service/service-install.js';
import { renderUnit } from '../../src/service/systemd-unit.js';

const COMMAND = ['/usr/bin/node', '/usr/lib/node_modules/crion/bin/crion.js'];

/** systemd as a recording fake: whether it runs, and every systemctl call. */
function fakeHost(running: boolean): ServiceHost & { calls: string[][] } {
  const calls: string[][] = [];
  return {
    calls,
    systemdRunning: () => Promise.resolve(running),
    systemctl: (args) => {
      calls.push([...args]);
      return Promise.resolve();
    },
  };
}

async function paths(t: ExecutionContext) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'crion-service-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const unitDir = path.join(dir, 'systemd', 'system');
  const configFile = path.join(dir, 'etc', 'crion', 'crion.conf');
  const configDir = path.join(dir, 'etc', 'crion', 'crion.conf.d');
  return { dir, unitDir, configFile, configDir, unitFile: path.join(unitDir, 'crion.service'), command: COMMAND };
}

test('install writes the unit and the default config into missing directories, and reloads systemd where it runs', async (t) => {
  const p = await paths(t);
  const host = fakeHost(true);
  const result = await installService(p, host);
  t.like(result, { unitFile: p.unitFile, unit: 'written', config: 'written', reloaded: true });
  t.is(await readFile(p.unitFile, 'utf8'), renderUnit(p));
  t.is((await stat(p.unitFile)).mode & 0o777, 0o644);
  t.is(await readFile(p.configFile, 'utf8'), renderConfig(defaultConfig()));
  t.deepEqual(host.calls, [['daemon-reload']]);
});

test('without systemd running install calls no systemctl and says so', async (t) => {
  const p = await paths(t);
  const host = fakeHost(false);
  t.like(await installService(p, host), { unit: 'written', reloaded: false });
  t.deepEqual(host.calls, []);
});

test('an existing config file is kept as it is and read for the kubelet settings, drop-ins included', async (t) => {
  const p = await paths(t);
  await mkdir(p.configDir, { recursive: true });
  const own = 'listen = "unix:///run/other/crion.sock"\n';
  await writeFile(p.configFile, own);
  await writeFile(path.join(p.configDir, '50-driver.conf'), '[runtime]\ncgroup_driver = "cgroupfs"\n');
  const result = await installService(p, fakeHost(false));
  t.is(result.config, 'kept');
  t.is(await readFile(p.configFile, 'utf8'), own);
  t.deepEqual(result.kubelet, { endpoint: 'unix:///run/other/crion.sock', cgroupDriver: 'cgroupfs' });
});

test('the default cgroup driver, auto, is systemd for the daemon the unit starts, wherever install runs', async (t) => {
  const p = await paths(t);
  t.deepEqual((await installService(p, fakeHost(false))).kubelet, { endpoint: 'unix:///run/crion/crion.sock', cgroupDriver: 'systemd' });
});

test('a config the daemon would refuse fails the install, naming file and key, before the unit is written', async (t) => {
  const p = await paths(t);
  await mkdir(path.dirname(p.configFile), { recursive: true });
  await writeFile(p.configFile, '[log]\nlevel = 42\n');
  await t.throwsAsync(installService(p, fakeHost(false)), { message: new RegExp(`${p.configFile}.*log\\.level`) });
  t.false(await exists(p.unitFile));
});

test('install is idempotent: a second run leaves the unit as it is, and a moved crion gets its unit rewritten', async (t) => {
  const p = await paths(t);
  await installService(p, fakeHost(false));
  t.like(await installService(p, fakeHost(false)), { unit: 'unchanged', config: 'kept' });
  t.is(await readFile(p.unitFile, 'utf8'), renderUnit(p));

  const moved = { ...p, command: ['/opt/node/bin/node', '/opt/crion/bin/crion.js'] };
  t.like(await installService(moved, fakeHost(false)), { unit: 'written' });
  t.is(await readFile(p.unitFile, 'utf8'), renderUnit(moved));
  t.deepEqual(await readdir(p.unitDir), ['crion.service'], 'no temporary file is left');
});

test('a crion.service crion did not write is neither replaced nor removed, and nothing else is touched', async (t) => {
  const p = await paths(t);
  await mkdir(p.unitDir, { recursive: true });
  const foreign = '[Service]\nExecStart=/usr/local/bin/crion-fork\n';
  await writeFile(p.unitFile, foreign);
  const host = fakeHost(true);

  const install = await t.throwsAsync(installService(p, host), { instanceOf: ForeignUnitError });
  t.is(
    install.message,
    `${p.unitFile} was not written by crion (it lacks the line "# Written by \`crion install-service\`; \`crion uninstall-service\` removes it."); refusing to replace it`,
  );
  t.false(await exists(p.configFile), 'no config written for a refused install');

  await mkdir(path.dirname(p.configFile), { recursive: true });
  await writeFile(p.configFile, '');
  await t.throwsAsync(uninstallService({ ...p, purge: true }, host), { instanceOf: ForeignUnitError, message: /refusing to remove it$/ });
  t.is(await readFile(p.unitFile, 'utf8'), foreign);
  t.true(await exists(p.configFile));
  t.deepEqual(host.calls, []);
});

test('uninstall stops and disables the service where systemd runs, removes the unit and keeps the config', async (t) => {
  const p = await paths(t);
  await installService(p, fakeHost(false));
  const host = fakeHost(true);
  t.like(await uninstallService({ ...p, purge: false }, host), { unit: 'removed', systemd: true, config: 'kept' });
  t.false(await exists(p.unitFile));
  t.true(await exists(p.configFile));
  t.deepEqual(host.calls, [['disable', '--now', 'crion.service'], ['daemon-reload']]);
});

test('uninstall --purge removes the config file too; without systemd it calls no systemctl', async (t) => {
  const p = await paths(t);
  await installService(p, fakeHost(false));
  const host = fakeHost(false);
  t.like(await uninstallService({ ...p, purge: true }, host), { unit: 'removed', systemd: false, config: 'removed' });
  t.false(await exists(p.unitFile));
  t.false(await exists(p.configFile));
  t.deepEqual(host.calls, []);
});

test('uninstall with nothing installed succeeds and calls no systemctl', async (t) => {
  const p = await paths(t);
  const host = fakeHost(true);
  t.like(await uninstallService({ ...p, purge: true }, host), { unit: 'absent', systemd: false, config: 'absent' });
  t.deepEqual(host.calls, []);
});

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}
