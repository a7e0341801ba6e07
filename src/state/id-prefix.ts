/**
 * An ID as an operator types it: the whole ID or any unique start of it, as
 * crictl resolves them. Not finding one and finding several are answers.
 */
export type PrefixMatch =
  { readonly kind: 'unique'; readonly id: string } | { readonly kind: 'none' } | { readonly kind: 'ambiguous'; readonly ids: readonly string[] };

export function matchIdPrefix(prefix: string, ids: Iterable<string>): PrefixMatch {
  if (prefix === '') return { kind: 'none' };
  const matches = [...ids].filter((id) => id.startsWith(prefix));
  // A whole ID is never ambiguous, even where it starts a longer one.
  if (matches.includes(prefix)) return { kind: 'unique', id: prefix };
  if (matches.length === 1) return { kind: 'unique', id: matches[0]! };
  if (matches.length === 0) return { kind: 'none' };
  return { kind: 'ambiguous', ids: matches.sort() };
}
