import { Command } from 'commander';
import { addConfigOptions, configSourcesFrom, loadConfig, overridesFrom, renderConfig } from '../config/index.js';
import { runDaemon } from '../daemon.js';
import { defaultNetworkFor, initDefaultNetwork } from '../network/default-network.js';
import { addImageCommands, ENDPOINT_ENV } from './image-commands.js';
import { addServiceCommands } from './service-commands.js';
import { addInspectCommands } from './inspect-commands.js';
import { addTopCommand } from './top/top-command.js';
import { criApiVersion, packageVersion } from '../package-info.js';

/**
 * Every failure the operator can fix (a bad config key, a socket in use, a
 * missing addon) is an Error whose message says what to fix; print it
 * without a stack trace and exit non-zero.
 */
function fail(error: unknown): never {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`crion: ${message}\n`);
  process.exit(1);
}

export function buildProgram(): Command {
  const program = new Command('crion')
    .description('crion: a Kubernetes container runtime serving CRI v1 on a unix socket')
    .version(packageVersion, '-v, --version', 'print the crion version')
    .showHelpAfterError()
    .addHelpText(
      'after',
      `\nEnvironment:\n  ${ENDPOINT_ENV}  the daemon socket for pull, images, rmi, status, inspect and top when --listen is not given (unix:///path or /path)\n`,
    );

  addConfigOptions(
    program.command('daemon').description('serve the CRI RuntimeService and ImageService until SIGTERM; SIGHUP reloads the config files'),
  ).action(async (options: Record<string, unknown>) => {
    await runDaemon({ sources: configSourcesFrom(options), overrides: overridesFrom(options) });
    // Exit watches on running containers' monitors hold the event loop open by design; the daemon is done.
    process.exit(0);
  });

  addConfigOptions(
    program.command('config').description('print the effective configuration as commented TOML that `crion daemon --config` accepts'),
  ).action(async (options: Record<string, unknown>) => {
    const { config } = await loadConfig(configSourcesFrom(options), overridesFrom(options));
    process.stdout.write(renderConfig(config));
  });

  addImageCommands(program);
  addServiceCommands(program);
  addInspectCommands(program);
  addTopCommand(program);

  const network = program.command('network').description('CNI pod networking');
  addConfigOptions(
    network
      .command('init')
      .description('write a bridge network (default_bridge, default_subnet) to cni_config_dir unless it holds a network config already'),
  ).action(async (options: Record<string, unknown>) => {
    const { config } = await loadConfig(configSourcesFrom(options), overridesFrom(options));
    const written = await initDefaultNetwork(defaultNetworkFor(config));
    process.stdout.write(
      written === null
        ? `${config.network.cniConfigDir} already holds a network config; nothing written
`
        : `wrote ${written}
`,
    );
  });

  program
    .command('version')
    .description('print the crion version and the CRI API it implements')
    .action(() => {
      process.stdout.write(`crion ${packageVersion}\nCRI API v1 (${criApiVersion()})\n`);
    });

  return program;
}

export async function main(argv: readonly string[]): Promise<void> {
  try {
    await buildProgram().parseAsync([...argv]);
  } catch (error) {
    fail(error);
  }
}
