import test from 'ava';
import { DAEMON_NODE_FLAGS } from '../../src/service/daemon-node-flags.js';
import { access, mkdir, mkdtemp, readdir, readFile, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { crictl } from '../helpers/crictl.js';
import { createBusyboxContainer, runBusyboxPod } from '../helpers/crictl-pods.js';
import { startDaemon } from '../helpers/daemon.js';
import { sharedImageSource } from '../helpers/image-source.js';
import { run } from '../helpers/process.js';
import { repoRoot } from '../helpers/repo.js';

/**
 * crion as an operator installs it: the two tarballs `npm pack` makes (crion,
 * and @crion/linux-x64-gnu with the addon and crion-monitor, which crion names
 * in its optionalDependencies) installed with `npm i -g` into a fresh prefix, from a directory with no checkout, on a PATH
 * with no compiler or Rust; the installed `crion` then runs a pod.
 */

const source = sharedImageSource(test);

const exists = (file: string) =>
  access(file).then(
    () => true,
    () => false,
  );

/** What a build needs and an installed crion must not: compilers, linkers, Rust, Go. */
const BUILD_TOOLS = /^(gcc|g\+\+|cc|c\+\+|cpp|c89|c99|ld(\..*)?|as|x86_64-linux-gnu-.*|clang.*|rustc|cargo|rustup|go|gofmt|make)$/;

/** A bin directory with every command of /usr/bin and /usr/sbin but the build tools, for a PATH that lacks them. */
async function pathWithoutBuildTools(dir: string): Promise<string> {
  const bin = path.join(dir, 'bin');
  await mkdir(bin);
  for (const from of ['/usr/sbin', '/usr/bin']) {
    for (const name of await readdir(from)) {
      if (BUILD_TOOLS.test(name)) continue;
      await symlink(path.join(from, name), path.join(bin, name)).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'EEXIST') throw error;
      });
    }
  }
  return bin;
}

test('the packed tarballs install with npm -g into a clean prefix, and the installed crion runs a pod without Rust or gcc on PATH', async (t) => {
  t.timeout(600_000);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'crion-npm-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const tarballs = path.join(dir, 'tarballs');
  await mkdir(tarballs);
  for (const packageDir of [repoRoot, path.join(repoRoot, 'npm', 'linux-x64-gnu')]) {
    const packed = await run('npm', ['pack', '--pack-destination', tarballs], { cwd: packageDir, timeoutMs: 120_000 });
    t.is(packed.code, 0, packed.stderr);
  }

  const env = { ...process.env, PATH: await pathWithoutBuildTools(dir) };
  t.not((await run('sh', ['-c', 'command -v gcc || command -v cc || command -v cargo'], { env })).code, 0, 'no compiler or cargo on that PATH');
  // Outside any checkout, so nothing resolves to the repository's node_modules or build.
  const elsewhere = path.join(dir, 'elsewhere');
  await mkdir(elsewhere);
  const prefix = path.join(dir, 'prefix');
  const { version: crionVersion } = JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string };
  t.deepEqual((await readdir(tarballs)).sort(), [`crion-${crionVersion}.tgz`, `crion-linux-x64-gnu-${crionVersion}.tgz`]);
  const files = (await readdir(tarballs)).map((name) => path.join(tarballs, name));
  const installed = await run('npm', ['install', '--global', '--prefix', prefix, '--no-audit', '--no-fund', ...files], {
    cwd: elsewhere,
    env,
    timeoutMs: 300_000,
  });
  t.is(installed.code, 0, installed.stderr);
  const modules = path.join(prefix, 'lib', 'node_modules');
  const installedManifest = JSON.parse(await readFile(path.join(modules, 'crion', 'package.json'), 'utf8')) as { optionalDependencies?: object };
  t.deepEqual(installedManifest.optionalDependencies, { '@crion/linux-x64-gnu': crionVersion });
  t.deepEqual((await readdir(path.join(modules, '@crion', 'linux-x64-gnu'))).sort(), [
    'README.md',
    'crion-monitor',
    'crion.linux-x64-gnu.node',
    'package.json',
  ]);
  t.false(await exists(path.join(modules, 'crion', 'src')), 'the TypeScript sources are not shipped: the build is');
  const crion = path.join(prefix, 'bin', 'crion');
  const version = await run(crion, ['--version'], { cwd: elsewhere, env });
  t.is(version.stdout.trim(), crionVersion);

  const daemon = await startDaemon(t, { config: source.daemonConfig(), launcher: { command: [crion], env, cwd: elsewhere } });
  const versionReply = await crictl(daemon, ['version']);
  t.regex(versionReply.stdout, /RuntimeName:\s+crion/);
  const { podId, podFile } = await runBusyboxPod(daemon, source, 'installed');
  const created = await createBusyboxContainer(daemon, source, podId, podFile, 'hello', ['sh', '-c', 'echo hello from an installed crion']);
  t.is(created.code, 0, created.stderr);
  const id = created.stdout.trim();
  t.is((await crictl(daemon, ['start', id])).code, 0);
  let logs = '';
  for (let tries = 0; tries < 50 && !logs.includes('hello'); tries++) {
    logs = (await crictl(daemon, ['logs', id])).stdout;
    await sleep(200);
  }
  t.is(logs, 'hello from an installed crion\n');
  const status = await run(crion, ['status', '--listen', daemon.endpoint], { cwd: elsewhere, env });
  t.is(status.code, 0, status.stderr);
  t.regex(status.stdout, /^RuntimeReady: +true$/m);
  t.regex(status.stdout, /^containers: +1 \(0 running\)$/m);
  t.is((await crictl(daemon, ['rmp', '--force', podId])).code, 0);
  // The unit an installed crion writes runs that install, by absolute path, and systemd accepts it.
  const service = path.join(dir, 'service');
  const installedService = await run(
    crion,
    ['install-service', '--unit-dir', service, '--config', path.join(service, 'crion.conf'), '--config-dir', path.join(service, 'crion.conf.d')],
    { cwd: elsewhere, env },
  );
  t.is(installedService.code, 0, installedService.stderr);
  const unit = await readFile(path.join(service, 'crion.service'), 'utf8');
  t.true(
    unit.includes(`\nExecStart=${[process.execPath, ...DAEMON_NODE_FLAGS, path.join(modules, 'crion', 'bin', 'crion.js')].join(' ')} daemon `),
    unit,
  );
  const verified = await run('systemd-analyze', ['verify', path.join(service, 'crion.service')], { timeoutMs: 30_000 });
  t.deepEqual([verified.code, verified.stdout, verified.stderr], [0, '', '']);
});
