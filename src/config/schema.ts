/**
 * The machinery behind the config table in crion-config.ts: node types whose
 * shape the compiler derives from the CrionConfig interface, so a key missing
 * from the table or typed differently there does not compile.
 */
import type { CrionConfig } from './crion-config.js';
import { tomlKey } from './toml.js';
import type { ValueType } from './value-types.js';

/** What a leaf of the config can hold; anything else is a table. */
export type ConfigValue = string | number | boolean | readonly string[];

/** A key inside each entry of a table map (`path` of a runtime handler). */
export interface Field<T> {
  readonly type: ValueType<T>;
  readonly doc: string;
  /** A change is applied on SIGHUP; otherwise it waits for a restart. */
  readonly reloadable: boolean;
}

export interface Setting<T> extends Field<T> {
  readonly kind: 'setting';
  readonly default: T;
  /** A rule involving other keys, run once every source is merged; returns the reason it fails. */
  check?(value: T, config: CrionConfig): string | null;
}

export interface Section<T> {
  readonly kind: 'section';
  readonly doc: string;
  readonly children: SchemaOf<T>;
}

/**
 * A table of user-named tables that share one set of fields (runtime
 * handlers). Built-in entries come from `defaults`; every field of an entry
 * the user adds must be set by some source.
 */
export interface TableMap<M> {
  readonly kind: 'map';
  readonly doc: string;
  /** The repeatable flag that sets entries: `--runtime-handler`. */
  readonly flag: string;
  readonly namePattern: RegExp;
  readonly entry: FieldsOf<EntryOf<M>>;
  readonly defaults: M;
}

type EntryOf<M> = M extends { readonly [name: string]: infer E } ? E : never;

export type FieldsOf<E> = { readonly [K in keyof E]-?: Field<E[K]> };

type NodeOf<V> = [V] extends [ConfigValue] ? Setting<V> : string extends keyof V ? TableMap<V> : Section<V>;

export type SchemaOf<T> = { readonly [K in keyof T]-?: NodeOf<T[K]> };

export type AnySetting = Setting<unknown>;
export type AnyTableMap = TableMap<Readonly<Record<string, Readonly<Record<string, unknown>>>>>;
type AnyNode = AnySetting | Section<unknown> | AnyTableMap;

export function setting<T>(
  type: ValueType<T>,
  defaultValue: NoInfer<T>,
  doc: string,
  options: { reloadable?: boolean; check?: (value: T, config: CrionConfig) => string | null } = {},
): Setting<T> {
  const { reloadable = false, check } = options;
  return { kind: 'setting', type, default: defaultValue, doc, reloadable, check };
}

export function field<T>(type: ValueType<T>, doc: string): Field<T> {
  return { type, doc, reloadable: false };
}

export function section<T>(doc: string, children: NoInfer<SchemaOf<T>>): Section<T> {
  return { kind: 'section', doc, children };
}

export function tableMap<M>(map: NoInfer<Omit<TableMap<M>, 'kind'>>): TableMap<M> {
  return { kind: 'map', ...map };
}

/** `defaultHandler` → `default_handler`: TOML keys are the snake_case of the property names. */
export function snakeCase(property: string): string {
  return property.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
}

interface Located {
  /** TOML key segments: ['runtime', 'default_handler']. */
  readonly path: readonly string[];
  /** Property names in CrionConfig: ['runtime', 'defaultHandler']. */
  readonly props: readonly string[];
  /** Dotted TOML key: 'runtime.default_handler'. */
  readonly key: string;
}

export type SchemaEntry =
  | (Located & { readonly kind: 'table'; readonly doc: string })
  | (Located & { readonly kind: 'setting'; readonly setting: AnySetting })
  | (Located & { readonly kind: 'map'; readonly map: AnyTableMap });

/**
 * Flattens the schema into document order, which is also the order a TOML
 * file must follow: a table's own keys come before its sub-tables, because
 * once a file opens a sub-table every later plain key belongs to it.
 */
export function indexSchema<T>(rootDoc: string, schema: SchemaOf<T>): readonly SchemaEntry[] {
  const entries: SchemaEntry[] = [];
  const visit = (path: readonly string[], props: readonly string[], doc: string, children: object): void => {
    entries.push({ kind: 'table', path, props, key: tomlKey(path), doc });
    const nodes = Object.entries(children as Readonly<Record<string, AnyNode>>).map(([prop, node]) => {
      const childPath = [...path, snakeCase(prop)];
      return { node, located: { path: childPath, props: [...props, prop], key: tomlKey(childPath) } };
    });
    for (const { node, located } of nodes) {
      if (node.kind === 'setting') entries.push({ kind: 'setting', ...located, setting: node });
    }
    for (const { node, located } of nodes) {
      if (node.kind === 'section') visit(located.path, located.props, node.doc, node.children);
      if (node.kind === 'map') entries.push({ kind: 'map', ...located, map: node });
    }
  };
  visit([], [], rootDoc, schema);
  return entries;
}
