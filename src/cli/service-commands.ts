import type { Command } from 'commander';
import path from 'node:path';
import { DEFAULT_CONFIG_DIR, DEFAULT_CONFIG_FILE } from '../config/index.js';
import { packageRoot } from '../package-info.js';
import { kubeletConfigurationFields, kubeletFlags } from '../service/kubelet-settings.js';
import { DEFAULT_UNIT_DIR, installService, uninstallService, type InstallResult, type UninstallResult } from '../service/service-install.js';
import { DAEMON_NODE_FLAGS } from '../service/daemon-node-flags.js';
import { UNIT_NAME } from '../service/systemd-unit.js';

/** `crion install-service` and `crion uninstall-service`: crion as a systemd service. */

interface InstallFlags {
  unitDir: string;
  config: string;
  configDir: string;
}

interface UninstallFlags {
  unitDir: string;
  config: string;
  purge?: true;
}

const NOT_RELOADED = 'systemd is not running here; where it runs, run: systemctl daemon-reload';

function installReport(result: InstallResult): string {
  const indented = (lines: readonly string[]) => lines.map((line) => `  ${line}\n`).join('');
  return [
    result.unit === 'written' ? `wrote ${result.unitFile}\n` : `${result.unitFile} is up to date\n`,
    result.config === 'written' ? `wrote ${result.configFile} with the defaults\n` : `kept ${result.configFile}, which exists\n`,
    result.reloaded ? 'ran systemctl daemon-reload\n' : `${NOT_RELOADED}\n`,
    `start it now and at each boot: systemctl enable --now ${UNIT_NAME}\n`,
    '\nthe kubelet flags for this daemon:\n',
    indented(kubeletFlags(result.kubelet)),
    'or in its KubeletConfiguration:\n',
    indented(kubeletConfigurationFields(result.kubelet)),
  ].join('');
}

function uninstallReport(result: UninstallResult): string {
  const unit = result.unit === 'removed' ? `removed ${result.unitFile}` : `no ${result.unitFile}; nothing to remove`;
  const systemd =
    result.unit === 'absent' ? [] : result.systemd ? [`stopped and disabled ${UNIT_NAME}; ran systemctl daemon-reload`] : [NOT_RELOADED];
  const config = {
    kept: `kept ${result.configFile} (--purge removes it)`,
    removed: `removed ${result.configFile}`,
    absent: `no ${result.configFile}; nothing to purge`,
  }[result.config];
  return `${[unit, ...systemd, config, 'containers still running, and the pods and images in root and state, are left as they are'].join('\n')}\n`;
}

export function addServiceCommands(program: Command): void {
  program
    .command('install-service')
    .description(`write a systemd unit, ${UNIT_NAME}, that runs this crion as a daemon, and a default config file unless one exists`)
    .option('--unit-dir <dir>', 'where the unit is written', DEFAULT_UNIT_DIR)
    .option('--config <file>', 'the config file the daemon reads; written with the defaults unless it exists', DEFAULT_CONFIG_FILE)
    .option('--config-dir <dir>', 'the drop-in directory the daemon reads after --config', DEFAULT_CONFIG_DIR)
    .action(async (flags: InstallFlags) => {
      const result = await installService({
        unitDir: flags.unitDir,
        configFile: path.resolve(flags.config),
        configDir: path.resolve(flags.configDir),
        // This node and this package, by absolute path: the unit runs what was installed, whatever PATH systemd has.
        command: [process.execPath, ...DAEMON_NODE_FLAGS, path.join(packageRoot, 'bin', 'crion.js')],
      });
      process.stdout.write(installReport(result));
    });

  program
    .command('uninstall-service')
    .description(`stop and remove the ${UNIT_NAME} that install-service wrote; running containers are left running`)
    .option('--unit-dir <dir>', 'where the unit is', DEFAULT_UNIT_DIR)
    .option('--config <file>', 'the config file --purge removes', DEFAULT_CONFIG_FILE)
    .option('--purge', 'also remove the config file')
    .action(async (flags: UninstallFlags) => {
      const result = await uninstallService({ unitDir: flags.unitDir, configFile: path.resolve(flags.config), purge: flags.purge === true });
      process.stdout.write(uninstallReport(result));
    });
}
