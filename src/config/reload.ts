import { configDocument, type DocumentItem } from './config-document.js';
import type { CrionConfig } from './crion-config.js';
import type { ConfigValue } from './schema.js';
import { deepFreeze, setAt } from './tree.js';

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

/** Every key whose value differs, in document order; what the daemon logs after SIGHUP. */
export function diffConfig(before: CrionConfig, after: CrionConfig): ConfigChange[] {
  const old = valuesByKey(before);
  const current = valuesByKey(after);
  const changes: ConfigChange[] = [];
  for (const key of new Set([...old.keys(), ...current.keys()])) {
    const from = old.get(key);
    const to = current.get(key);
    if (from !== undefined && to !== undefined && sameValue(from.value, to.value)) continue;
    changes.push({
      key,
      from: (from?.value as ConfigValue | undefined) ?? null,
      to: (to?.value as ConfigValue | undefined) ?? null,
      reloadable: (to ?? from)?.field.reloadable ?? false,
    });
  }
  return changes;
}

/**
 * The configuration in effect after SIGHUP: the running one with every
 * reloadable key taken from the re-read one. The rest stays as started,
 * so what the daemon reports matches what it does until it is restarted.
 */
export function applyReloadableChanges(running: CrionConfig, reread: CrionConfig): CrionConfig {
  const config = structuredClone(running);
  for (const item of configDocument(reread)) {
    if (item.kind === 'value' && item.field.reloadable) setAt(config, item.props, item.value);
  }
  return deepFreeze(config);
}
