import { mkdtemp, rm, writeFile } from 'node:fs/promises';
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
