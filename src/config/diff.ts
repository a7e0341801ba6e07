import { configDocument, type DocumentItem } from './config-document.js';
import type { CrionConfig } from './crion-config.js';
import type { ConfigValue } from './schema.js';

export interface ConfigChange {
  /** Dotted TOML key, e.g. "log.level". */
  readonly key: string;
  /** null when the key did not exist before (a handler was added). */
  readonly from: ConfigValue | null;
  /** null when the key no longer exists (a handler was removed from a file). */
  readonly to: ConfigValue | null;
  /** Whether SIGHUP applies the change; if not, it waits for a restart. */
  readonly reloadable: boolean;
}

type ValueItem = Extract<DocumentItem, { kind: 'value' }>;

function valuesByKey(config: CrionConfig): Map<string, ValueItem> {
  return new Map(configDocument(config).flatMap((item) => (item.kind === 'value' ? [[item.key, item]] : [])));
}

function sameValue(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((item, i) => item === b[i]);
  return a === b;
}

/** Every key whose value differs, in document order; what the daemon logs and acts on after SIGHUP. */
export function diffConfig(before: CrionConfig, after: CrionConfig): ConfigChange[] {
  const old = valuesByKey(before);
  const current = valuesByKey(after);
  return [...new Set([...old.keys(), ...current.keys()])].flatMap((key): ConfigChange[] => {
    const from = old.get(key);
    const to = current.get(key);
    if (from !== undefined && to !== undefined && sameValue(from.value, to.value)) return [];
    const field = (from ?? to)?.field;
    return [
      {
        key,
        from: (from?.value as ConfigValue | undefined) ?? null,
        to: (to?.value as ConfigValue | undefined) ?? null,
        reloadable: field?.reloadable ?? false,
      },
    ];
  });
}
