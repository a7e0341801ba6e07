/** Helpers for the plain nested objects a config is built from. */

export type MutableTable = Record<string, unknown>;

export function valueAt(tree: object, props: readonly string[]): unknown {
  return props.reduce<unknown>((table, prop) => (table as MutableTable)[prop], tree);
}

/** Sets a value in place, even in a tree whose type is readonly: only for trees being built, before deepFreeze. */
export function setAt(tree: object, [prop, ...rest]: readonly string[], value: unknown): void {
  const table = tree as MutableTable;
  if (prop === undefined) return;
  if (rest.length === 0) {
    table[prop] = value;
    return;
  }
  // hasOwn, not `??=`: an entry named "constructor" must not land on Object.prototype.constructor.
  if (!Object.hasOwn(table, prop)) table[prop] = {};
  setAt(table[prop] as object, rest, value);
}

export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
