import { CONFIG_INDEX, type CrionConfig } from './crion-config.js';
import { valueAt } from './resolve.js';
import { snakeCase, type Field } from './schema.js';
import { tomlKey } from './toml.js';

export type DocumentItem =
  | { readonly kind: 'table'; readonly key: string; readonly doc: string | null }
  | {
      readonly kind: 'value';
      readonly key: string;
      /** The key inside its table. */
      readonly name: string;
      readonly field: Field<unknown>;
      readonly value: unknown;
    };

/**
 * A config as the TOML tables and keys that express it, in schema order with
 * map entries expanded; rendering prints it, diffing compares its values.
 */
export function configDocument(config: CrionConfig): DocumentItem[] {
  return CONFIG_INDEX.flatMap((entry): DocumentItem[] => {
    switch (entry.kind) {
      case 'table':
        return [{ kind: 'table', key: entry.key, doc: entry.doc }];
      case 'setting':
        return [valueItem(entry.path, entry.setting, valueAt(config, entry.props))];
      case 'map': {
        const entries = Object.entries(valueAt(config, entry.props) as Readonly<Record<string, object>>);
        return [
          { kind: 'table', key: entry.key, doc: entry.map.doc },
          ...entries.flatMap(([name, fields]): DocumentItem[] => [
            { kind: 'table', key: tomlKey([...entry.path, name]), doc: null },
            ...Object.entries(entry.map.entry).map(([prop, field]) =>
              valueItem([...entry.path, name, snakeCase(prop)], field, valueAt(fields, [prop])),
            ),
          ]),
        ];
      }
    }
  });
}

function valueItem(path: readonly string[], field: Field<unknown>, value: unknown): DocumentItem {
  return { kind: 'value', key: tomlKey(path), name: tomlKey(path.slice(-1)), field, value };
}
