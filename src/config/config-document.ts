import { CONFIG_INDEX, type CrionConfig } from './crion-config.js';
import { snakeCase, type Field } from './schema.js';
import { tomlKey } from './toml.js';
import { valueAt } from './tree.js';

export type DocumentItem =
  | { readonly kind: 'table'; readonly key: string; readonly doc: string | null }
  | {
      readonly kind: 'value';
      readonly key: string;
      /** The key inside its table. */
      readonly name: string;
      /** Where the value sits in CrionConfig. */
      readonly props: readonly string[];
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
        return [valueItem(entry.path, entry.props, entry.setting, config)];
      case 'map': {
        const names = Object.keys(valueAt(config, entry.props) as object);
        return [
          { kind: 'table', key: entry.key, doc: entry.map.doc },
          ...names.flatMap((name): DocumentItem[] => [
            { kind: 'table', key: tomlKey([...entry.path, name]), doc: null },
            ...Object.entries(entry.map.entry).map(([prop, field]) =>
              valueItem([...entry.path, name, snakeCase(prop)], [...entry.props, name, prop], field, config),
            ),
          ]),
        ];
      }
    }
  });
}

function valueItem(path: readonly string[], props: readonly string[], field: Field<unknown>, config: CrionConfig): DocumentItem {
  const value = valueAt(config, props);
  return { kind: 'value', key: tomlKey(path), name: tomlKey(path.slice(-1)), props, field, value };
}
