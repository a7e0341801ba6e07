/**
 * crion's configuration, CRI-O style.
 *
 * Sources, later ones winning key by key: built-in defaults, the TOML file
 * (/etc/crion/crion.conf or --config), the drop-ins (/etc/crion/crion.conf.d
 * or --config-dir, `*.conf` in lexical order), then command-line flags. Every
 * key, its default, what it accepts, its flag, its comment in `crion config`
 * output and whether SIGHUP applies it come from one table, CONFIG_SCHEMA in
 * crion-config.ts.
 *
 * Startup:
 *   addConfigOptions(command);                       // --config, --config-dir, one flag per key
 *   const sources = configSourcesFrom(command.opts());
 *   const overrides = overridesFrom(command.opts()); // throws ConfigError naming the flag
 *   const { config, files } = await loadConfig(sources, overrides);
 * `crion config`: print renderConfig(config).
 * SIGHUP: loadConfig(sources, overrides) again; diffConfig(running, reread) lists
 * each changed key with `reloadable` (to log, and to warn about what needs a
 * restart); applyReloadableChanges(running, reread) is the config now in effect.
 *
 * The first problem found throws ConfigError, "<file or --flag>: <dotted.key>: <reason>",
 * or "<file>: <reason>" when the whole file is at fault (missing, unreadable, not TOML).
 */
export { ConfigError } from './config-error.js';
export { DEFAULT_CONFIG_DIR, DEFAULT_CONFIG_FILE } from './crion-config.js';
export type {
  CgroupDriver,
  InfraContainerKind,
  CrionConfig,
  EventsConfig,
  ImageConfig,
  LogConfig,
  MetricsConfig,
  NetworkConfig,
  RuntimeConfig,
  RuntimeHandler,
  RuntimeHandlers,
  StreamingConfig,
} from './crion-config.js';
export { applyReloadableChanges, diffConfig, type ConfigChange } from './reload.js';
export { addConfigOptions, configSourcesFrom, overridesFrom } from './flags.js';
export { loadConfig, type ConfigSources, type LoadedConfig } from './load.js';
export { renderConfig } from './render.js';
export { defaultConfig, type ConfigLayer, type ConfigOverrides } from './resolve.js';
export type { ConfigValue } from './schema.js';
