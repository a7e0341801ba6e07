import test from 'ava';
import { DAEMON_NODE_FLAGS } from '../../src/service/daemon-node-flags.js';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { crictl, crictlJson } from '../helpers/crictl.js';
import { createBusyboxContainer, runBusyboxPod } from '../helpers/crictl-pods.js';
import { startDaemon } from '../helpers/daemon.js';
import { program, testNeeding } from '../helpers/host-requirements.js';
import { sharedImageSource } from '../helpers/image-source.js';
import { run } from '../helpers/process.js';
import { crionBin, repoRoot } from '../helpers/repo.js';

/**
 * crion as a systemd service: the unit install-service writes, checked by
 * systemd's own parser, and what its KillMode=process promises, emulated.
 * This host has no systemd as PID 1, so systemctl itself never runs here.
 */

const source = sharedImageSource(test);

function crion(args: readonly string[]) {
  return run(process.execPath, [crionBin, ...args], { cwd: repoRoot, timeoutMs: 30_000 });
}

/** systemd's environment for a system service: no variables of the caller's, PATH its default, `/` the directory. */
const SYSTEMD_EXEC_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' };

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

testNeeding(program('systemd-analyze'))(
  'install-service writes a unit systemd-analyze verify passes and a config the daemon accepts; uninstall-service removes the unit',
  async (t) => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'crion-e2e-service-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const unitDir = path.join(dir, 'systemd', 'system');
    const unitFile = path.join(unitDir, 'crion.service');
    const configFile = path.join(dir, 'etc', 'crion.conf');
    const configDir = path.join(dir, 'etc', 'crion.conf.d');

    const installed = await crion(['install-service', '--unit-dir', unitDir, '--config', configFile, '--config-dir', configDir]);
    t.is(installed.code, 0, installed.stderr);
    t.is(
      installed.stdout,
      [
        `wrote ${unitFile}`,
        `wrote ${configFile} with the defaults`,
        'systemd is not running here; where it runs, run: systemctl daemon-reload',
        'start it now and at each boot: systemctl enable --now crion.service',
        '',
        'the kubelet flags for this daemon:',
        '  --container-runtime-endpoint=unix:///run/crion/crion.sock',
        '  --image-service-endpoint=unix:///run/crion/crion.sock',
        '  --cgroup-driver=systemd',
        'or in its KubeletConfiguration:',
        '  containerRuntimeEndpoint: unix:///run/crion/crion.sock',
        '  imageServiceEndpoint: unix:///run/crion/crion.sock',
        '  cgroupDriver: systemd',
        '',
      ].join('\n'),
    );
    const unit = await readFile(unitFile, 'utf8');
    t.true(
      unit.includes(
        `\nExecStart=${[process.execPath, ...DAEMON_NODE_FLAGS, crionBin].join(' ')} daemon --config ${configFile} --config-dir ${configDir}\n`,
      ),
      unit,
    );

    // It loads the unit as systemd would, without a running systemd, and checks that each Exec command is executable.
    // Unknown keys and bad values are only warned about, with exit status 0: any output fails the check too.
    const verified = await run('systemd-analyze', ['verify', unitFile], { timeoutMs: 30_000 });
    t.deepEqual(verified, { ...verified, code: 0, stdout: '', stderr: '' });

    const printed = await crion(['config', '--config', configFile, '--config-dir', configDir]);
    t.is(printed.code, 0, printed.stderr);
    t.is(printed.stdout, await readFile(configFile, 'utf8'), 'the written config is the defaults, read back unchanged');

    // The command ExecStart names, run from / with systemd's environment, serves on the written config.
    const daemon = await startDaemon(t, {
      config: await readFile(configFile, 'utf8'),
      launcher: { command: [process.execPath, crionBin], env: SYSTEMD_EXEC_ENV, cwd: '/' },
    });
    t.is(await daemon.stop(), 0, daemon.stderr);

    const again = await crion(['install-service', '--unit-dir', unitDir, '--config', configFile, '--config-dir', configDir]);
    t.is(again.code, 0, again.stderr);
    t.regex(again.stdout, new RegExp(`^${unitFile} is up to date\nkept ${configFile}, which exists\n`));

    const removed = await crion(['uninstall-service', '--unit-dir', unitDir, '--config', configFile]);
    t.is(removed.code, 0, removed.stderr);
    t.regex(removed.stdout, new RegExp(`^removed ${unitFile}\n.*\nkept ${configFile} \\(--purge removes it\\)\n`));
    t.false(await exists(unitFile));
    t.true(await exists(configFile));

    const purged = await crion(['uninstall-service', '--unit-dir', unitDir, '--config', configFile, '--purge']);
    t.is(purged.code, 0, purged.stderr);
    t.regex(purged.stdout, new RegExp(`^no ${unitFile}; nothing to remove\nremoved ${configFile}\n`));
    t.false(await exists(configFile));
  },
);

test('install-service and uninstall-service refuse a crion.service crion did not write, and exit non-zero', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'crion-e2e-service-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const unitFile = path.join(dir, 'crion.service');
  await writeFile(unitFile, '[Service]\nExecStart=/bin/true\n');
  const configFile = path.join(dir, 'crion.conf');
  for (const command of [['install-service', '--config-dir', path.join(dir, 'd')], ['uninstall-service']]) {
    const refused = await crion([...command, '--unit-dir', dir, '--config', configFile]);
    t.is(refused.code, 1);
    t.regex(refused.stderr, new RegExp(`^crion: ${unitFile} was not written by crion .*; refusing to (replace|remove) it\n$`));
  }
  t.is(await readFile(unitFile, 'utf8'), '[Service]\nExecStart=/bin/true\n');
  t.false(await exists(configFile));
});

interface ProcStat {
  readonly ppid: number;
  readonly pgrp: number;
  readonly session: number;
}

/** proc(5)'s stat fields 4 to 6; the command name in parentheses may hold spaces, so fields count from its `)`. */
async function procStat(pid: number): Promise<ProcStat> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8');
  const [, ppid, pgrp, session] = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { ppid: Number(ppid), pgrp: Number(pgrp), session: Number(session) };
}

/**
 * systemd with KillMode=process stops or restarts the unit by signalling its
 * main PID alone; with the default KillMode=control-group it would signal
 * every process in the unit's cgroup, monitors included. Daemon.restart
 * sends SIGTERM with kill(2) to the daemon's PID, not to its process group,
 * which is exactly the former. container.test.ts checks that a container
 * runs on across such a restart and a kill -9; this checks the same
 * processes carry on, and that nothing but the cgroup ties the monitor to
 * the daemon: it is neither the daemon's child nor in its process group or
 * session, so no signal aimed at the daemon or its terminal reaches it.
 */
test('a SIGTERM to the daemon alone, as KillMode=process sends, leaves the container and its monitor running, in the same processes', async (t) => {
  const first = await startDaemon(t, { config: source.daemonConfig() });
  const { podId, podFile } = await runBusyboxPod(first, source, 'service-restart');
  const created = await createBusyboxContainer(first, source, podId, podFile, 'sleeper', ['sleep', '3600']);
  t.is(created.code, 0, created.stderr);
  const id = created.stdout.trim();
  t.is((await crictl(first, ['start', id])).code, 0);

  const { info } = await crictlJson<{ info: { pid: number } }>(first, ['inspect', id]);
  const monitorPid = Number(await readFile(path.join(first.dir, 'state', 'c', id, 'monitor.pid'), 'utf8'));
  const daemon = await procStat(first.child.pid!);
  const monitor = await procStat(monitorPid);
  t.not(monitor.ppid, first.child.pid, "the monitor is not the daemon's child");
  t.not(monitor.pgrp, daemon.pgrp, "nor in the daemon's process group");
  t.is(monitor.session, monitorPid, 'it leads a session of its own');
  t.is((await procStat(info.pid)).ppid, monitorPid, "the container's init is the monitor's child");

  const second = await first.restart('SIGTERM');
  t.teardown(() => second.dispose());
  t.deepEqual(await first.exited, { code: 0, signal: null }, 'the daemon exits at once on SIGTERM, before systemd would SIGKILL it');

  const after = await crictlJson<{ status: { state: string }; info: { pid: number } }>(second, ['inspect', id]);
  t.is(after.status.state, 'CONTAINER_RUNNING');
  t.is(after.info.pid, info.pid, 'the same process, not a restarted one');
  t.notThrows(() => process.kill(monitorPid, 0), 'the monitor is alive');
  t.is((await procStat(info.pid)).ppid, monitorPid);

  const stopped = await crictl(second, ['stop', '--timeout', '0', id]);
  t.is(stopped.code, 0, stopped.stderr);
  t.like((await crictlJson<{ status: { state: string; exitCode: number } }>(second, ['inspect', id])).status, {
    state: 'CONTAINER_EXITED',
    exitCode: 137,
  });
  const removed = await crictl(second, ['rm', id]);
  t.is(removed.code, 0, removed.stderr);
  t.is((await crictl(second, ['rmp', '-f', podId])).code, 0);
  t.deepEqual((await crictlJson<{ containers: unknown[] }>(second, ['ps', '-a'])).containers, []);
});
