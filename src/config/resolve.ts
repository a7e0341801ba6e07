import type { TomlTable } from 'smol-toml';
import { ConfigError } from './config-error.js';
import { CONFIG_INDEX, type CrionConfig } from './crion-config.js';
import { snakeCase, type Field, type SchemaEntry } from './schema.js';
import { isTable, tomlKey } from './toml.js';
import { deepFreeze, setAt, valueAt, type MutableTable } from './tree.js';
import type { Checked } from './value-types.js';

/** One key set by one source, already checked against the schema. */
export interface Assignment {
  readonly key: string;
  readonly props: readonly string[];
  readonly value: unknown;
}

/** Everything one source (a file, a flag) sets, in the order it sets it. */
export interface ConfigLayer {
  readonly source: string;
  readonly assignments: readonly Assignment[];
}

/** Command-line layers, applied after every file. */
export type ConfigOverrides = readonly ConfigLayer[];

type MapEntry = Extract<SchemaEntry, { kind: 'map' }>;

const ENTRY_BY_KEY = new Map(CONFIG_INDEX.map((entry) => [entry.key, entry]));

/** Source named in errors about a built-in default, which only a broken schema can produce. */
const BUILT_IN = 'built-in default';

export function assignment(
  source: string,
  target: { readonly key: string; readonly props: readonly string[] },
  checked: Checked<unknown>,
): Assignment {
  if (!checked.ok) throw new ConfigError(source, target.key, checked.reason);
  return { key: target.key, props: target.props, value: checked.value };
}

/** The path of one map entry (`runtime.handlers.kata`), refusing a bad name. */
function entryPath(source: string, entry: MapEntry, name: string): readonly string[] {
  const path = [...entry.path, name];
  if (!entry.map.namePattern.test(name)) {
    throw new ConfigError(source, tomlKey(path), `name must match ${entry.map.namePattern.source}`);
  }
  return path;
}

/** Where one field of one map entry lives (`runtime.handlers.kata.path`), refusing bad names and unknown fields. */
export function locateMapField(
  source: string,
  entry: MapEntry,
  name: string,
  fieldName: string,
): { key: string; props: readonly string[]; field: Field<unknown> } {
  const key = tomlKey([...entryPath(source, entry, name), fieldName]);
  const found = Object.entries(entry.map.entry).find(([prop]) => snakeCase(prop) === fieldName);
  if (found === undefined) throw new ConfigError(source, key, 'unknown key');
  const [prop, field] = found;
  return { key, props: [...entry.props, name, prop], field };
}

export function layerFromToml(source: string, document: TomlTable): ConfigLayer {
  const assignments: Assignment[] = [];
  const tableAt = (key: string, value: unknown): TomlTable => {
    if (!isTable(value)) throw new ConfigError(source, key, 'expected a table');
    return value;
  };
  const visit = (table: TomlTable, parentPath: readonly string[]): void => {
    for (const [name, value] of Object.entries(table)) {
      const path = [...parentPath, name];
      const entry = ENTRY_BY_KEY.get(tomlKey(path));
      if (entry === undefined) throw new ConfigError(source, tomlKey(path), 'unknown key');
      switch (entry.kind) {
        case 'setting':
          assignments.push(assignment(source, entry, entry.setting.type.fromToml(value)));
          break;
        case 'table':
          visit(tableAt(entry.key, value), path);
          break;
        case 'map':
          for (const [entryName, fields] of Object.entries(tableAt(entry.key, value))) {
            const fieldsKey = tomlKey(entryPath(source, entry, entryName));
            for (const [fieldName, fieldValue] of Object.entries(tableAt(fieldsKey, fields))) {
              const target = locateMapField(source, entry, entryName, fieldName);
              assignments.push(assignment(source, target, target.field.type.fromToml(fieldValue)));
            }
          }
          break;
      }
    }
  };
  visit(document, []);
  return { source, assignments };
}

function requireEveryField(entry: MapEntry, entries: MutableTable, sources: ReadonlyMap<string, string>): void {
  const props = Object.keys(entry.map.entry);
  for (const [name, fields] of Object.entries(entries)) {
    const keyOf = (prop: string) => tomlKey([...entry.path, name, snakeCase(prop)]);
    const missing = props.find((prop) => !Object.hasOwn(fields as MutableTable, prop));
    if (missing === undefined) continue;
    const source = props.map((prop) => sources.get(keyOf(prop))).find((found) => found !== undefined) ?? BUILT_IN;
    const required = props.map(snakeCase).join(' and ');
    throw new ConfigError(source, keyOf(missing), `missing; every [${entry.key}] entry needs ${required}`);
  }
}

const DEFAULT_TREE: MutableTable = {};
for (const entry of CONFIG_INDEX) {
  if (entry.kind === 'setting') setAt(DEFAULT_TREE, entry.props, entry.setting.default);
  if (entry.kind === 'map') setAt(DEFAULT_TREE, entry.props, entry.map.defaults);
}

/** Applies layers over the defaults in order, then checks what only the merged whole can show. */
export function resolveConfig(layers: readonly ConfigLayer[]): CrionConfig {
  const tree = structuredClone(DEFAULT_TREE);
  const sources = new Map<string, string>();
  for (const layer of layers) {
    for (const { key, props, value } of layer.assignments) {
      setAt(tree, props, value);
      sources.set(key, layer.source);
    }
  }
  const config = tree as unknown as CrionConfig;
  for (const entry of CONFIG_INDEX) {
    if (entry.kind === 'map') requireEveryField(entry, valueAt(tree, entry.props) as MutableTable, sources);
    if (entry.kind === 'setting' && entry.setting.check) {
      const reason = entry.setting.check(valueAt(tree, entry.props), config);
      if (reason !== null) throw new ConfigError(sources.get(entry.key) ?? BUILT_IN, entry.key, reason);
    }
  }
  return deepFreeze(config);
}

const DEFAULT_CONFIG = resolveConfig([]);

/** The configuration with no file and no flag. */
export function defaultConfig(): CrionConfig {
  return DEFAULT_CONFIG;
}
