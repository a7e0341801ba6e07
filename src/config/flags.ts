import { Option, type Command, type OptionValues } from 'commander';
import { ConfigError } from './config-error.js';
import { CONFIG_INDEX, DEFAULT_CONFIG_DIR, DEFAULT_CONFIG_FILE } from './crion-config.js';
import type { ConfigSources } from './load.js';
import { assignment, locateMapField, type Assignment, type ConfigLayer, type ConfigOverrides } from './resolve.js';
import { snakeCase, type SchemaEntry } from './schema.js';
import { fromFlag } from './value-types.js';

const HELP_GROUP = 'Configuration (flags override config files):';

interface ConfigFlag {
  readonly option: () => Option;
  /** Turns what commander parsed for this flag into a layer named after the flag. */
  readonly layer: (parsed: unknown) => ConfigLayer;
}

/** A value as it would be typed after its flag, for showing defaults in help. */
function flagText(value: unknown): string {
  const text = Array.isArray(value) ? value.join(',') : String(value);
  return text === '' ? '""' : text;
}

/** `runtime.default_handler` → `--runtime-default-handler`. */
function flagName(path: readonly string[]): string {
  return `--${path.join('-').replaceAll('_', '-')}`;
}

function settingFlag(entry: Extract<SchemaEntry, { kind: 'setting' }>): ConfigFlag {
  const { type, doc } = entry.setting;
  const name = flagName(entry.path);
  const help = `${doc} (default: ${flagText(entry.setting.default)})`;
  return {
    option: () => {
      if (type.impliedFlagValue === undefined) return new Option(`${name} <${type.placeholder}>`, help);
      return new Option(`${name} [${type.placeholder}]`, help).preset(type.impliedFlagValue);
    },
    layer: (parsed) => ({ source: name, assignments: [assignment(name, entry, fromFlag(type, String(parsed)))] }),
  };
}

/** A repeatable flag; each use sets fields of one entry, as `NAME:field=value,field=value`. */
function mapFlag(entry: Extract<SchemaEntry, { kind: 'map' }>): ConfigFlag {
  const name = `--${entry.map.flag}`;
  const syntax = `name:${Object.keys(entry.map.entry)
    .map((prop) => `${snakeCase(prop)}=...`)
    .join(',')}`;
  const help = `${entry.map.doc} Repeatable; each use sets fields of one entry.`;
  const parseOne = (text: string): Assignment[] => {
    const malformed = () => new ConfigError(name, entry.key, `expected ${syntax}, got ${JSON.stringify(text)}`);
    const colon = text.indexOf(':');
    if (colon === -1) throw malformed();
    const entryName = text.slice(0, colon);
    return text
      .slice(colon + 1)
      .split(',')
      .map((pair) => {
        const equals = pair.indexOf('=');
        if (equals < 1) throw malformed();
        const target = locateMapField(name, entry, entryName, pair.slice(0, equals));
        return assignment(name, target, fromFlag(target.field.type, pair.slice(equals + 1)));
      });
  };
  return {
    option: () => new Option(`${name} <${syntax}>`, help).argParser((text: string, previous: string[] | undefined) => [...(previous ?? []), text]),
    layer: (parsed) => ({ source: name, assignments: (parsed as string[]).flatMap(parseOne) }),
  };
}

const CONFIG_FLAGS: readonly ConfigFlag[] = CONFIG_INDEX.flatMap((entry) => {
  if (entry.kind === 'setting') return [settingFlag(entry)];
  if (entry.kind === 'map') return [mapFlag(entry)];
  return [];
});

/**
 * Adds `--config`, `--config-dir` and one flag per config key. No flag has a
 * commander default: an absent flag must leave the files' value alone.
 */
export function addConfigOptions(command: Command): Command {
  const options = [
    new Option('--config <file>', `Config file, read first (default: ${DEFAULT_CONFIG_FILE}); must exist when given.`),
    new Option('--config-dir <dir>', `Directory of *.conf drop-ins read in lexical order after --config (default: ${DEFAULT_CONFIG_DIR}).`),
    ...CONFIG_FLAGS.map((flag) => flag.option()),
  ];
  for (const option of options) command.addOption(option.helpGroup(HELP_GROUP));
  return command;
}

export function configSourcesFrom(options: OptionValues): ConfigSources {
  const { config, configDir } = options as { config?: string; configDir?: string };
  return {
    configFile: config ?? DEFAULT_CONFIG_FILE,
    configDir: configDir ?? DEFAULT_CONFIG_DIR,
    fileExplicit: config !== undefined,
  };
}

/** Checks every config flag that was given; throws ConfigError naming the flag. */
export function overridesFrom(options: OptionValues): ConfigOverrides {
  return CONFIG_FLAGS.flatMap((flag) => {
    const parsed: unknown = options[flag.option().attributeName()];
    return parsed === undefined ? [] : [flag.layer(parsed)];
  });
}
