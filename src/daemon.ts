import { mkdir } from 'node:fs/promises';
import { CriServer } from './cri/server.js';
import { runtimeInfoRpcs } from './cri/runtime-info.js';
import {
  applyReloadableChanges,
  diffConfig,
  loadConfig,
  type ConfigOverrides,
  type ConfigSources,
  type CrionConfig,
} from './config/index.js';
import { createLogger, type Logger } from './log/logger.js';
import { probeHost } from './native/index.js';
import { resolveCgroupDriver } from './runtime/cgroup-driver.js';

/** How long in-flight calls may run after SIGTERM before they are cut. */
const SHUTDOWN_GRACE_MS = 10_000;

export interface DaemonOptions {
  readonly sources: ConfigSources;
  readonly overrides: ConfigOverrides;
}

/**
 * The composition root: loads the configuration, probes the host, builds
 * every service with its dependencies passed in explicitly, and serves until
 * SIGTERM or SIGINT. Resolves once the server has shut down.
 */
export async function runDaemon(options: DaemonOptions): Promise<void> {
  let { config } = await loadConfig(options.sources, options.overrides);
  const log = createLogger(config.log);
  const hostProbe = await probeHost();
  log.info({ hostProbe }, 'host probed');

  await mkdir(config.root, { recursive: true, mode: 0o711 });
  await mkdir(config.state, { recursive: true, mode: 0o711 });
  const cgroupDriver = await resolveCgroupDriver(config.runtime.cgroupDriver);

  const server = await CriServer.start({
    listen: config.listen,
    log,
    runtime: runtimeInfoRpcs({
      cgroupDriver,
      statusSource: () => ({
        defaultHandler: config.runtime.defaultHandler,
        handlers: config.runtime.handlers,
        verboseInfo: () => ({ config, hostProbe, cgroupDriver }),
      }),
    }),
    image: {},
  });
  log.info({ listen: config.listen, root: config.root, state: config.state, cgroupDriver }, 'serving CRI');

  process.on('SIGHUP', () => {
    void reloadConfig(options, config, log).then((next) => {
      config = next;
    });
  });
  await new Promise<void>((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      log.info({ signal }, 'shutting down');
      // A second signal means the operator will not wait for the grace period.
      process.once(signal, () => process.exit(1));
      void server.shutdown(SHUTDOWN_GRACE_MS).then((outcome) => {
        log.info({ outcome }, 'stopped');
        resolve();
      });
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}

/**
 * SIGHUP: re-reads the files (flags still win), applies what may change
 * while running and says what needs a restart. A broken file keeps the
 * running configuration: a typo must not take the node down.
 */
async function reloadConfig(options: DaemonOptions, running: CrionConfig, log: Logger): Promise<CrionConfig> {
  try {
    const { config: next, files } = await loadConfig(options.sources, options.overrides);
    const changes = diffConfig(running, next);
    const applied = applyReloadableChanges(running, next);
    if (applied.log.level !== running.log.level) log.level = applied.log.level;
    log.info({ files, changes }, 'config reloaded');
    const needRestart = changes.filter((change) => !change.reloadable).map((change) => change.key);
    if (needRestart.length > 0) log.warn({ keys: needRestart }, 'these changes take effect only after a restart');
    return applied;
  } catch (error) {
    log.error({ err: error }, 'config reload failed; keeping the running configuration');
    return running;
  }
}
