import type { Arrangement, SortKey } from './ordering.js';

/**
 * What a key does in `crion top`, apart from ink so it can be tested as a
 * function: c, m, n, r sort; / opens the filter line, where Enter applies
 * what was typed and Esc clears the filter; q quits.
 */

export interface ViewState extends Arrangement {
  /** The filter being typed, or null when the filter line is closed. */
  readonly draft: string | null;
}

/** The subset of ink's Key that matters here. */
export interface KeyFlags {
  readonly return: boolean;
  readonly escape: boolean;
  readonly backspace: boolean;
  readonly delete: boolean;
  readonly ctrl: boolean;
  readonly meta: boolean;
}

export const INITIAL_VIEW: ViewState = { sortKey: 'cpu', filter: '', draft: null };

const SORT_BY_KEY: Readonly<Record<string, SortKey>> = { c: 'cpu', m: 'memory', n: 'name', r: 'restarts' };

export type KeyOutcome = { readonly quit: true } | { readonly quit: false; readonly view: ViewState };

export function pressKey(view: ViewState, input: string, key: KeyFlags): KeyOutcome {
  if (view.draft !== null) return { quit: false, view: editDraft(view, view.draft, input, key) };
  if (input === 'q') return { quit: true };
  if (input === '/') return { quit: false, view: { ...view, draft: view.filter } };
  if (key.escape) return { quit: false, view: { ...view, filter: '' } };
  const sortKey = key.ctrl || key.meta ? undefined : SORT_BY_KEY[input];
  return { quit: false, view: sortKey === undefined ? view : { ...view, sortKey } };
}

function editDraft(view: ViewState, draft: string, input: string, key: KeyFlags): ViewState {
  if (key.return) return { ...view, filter: draft, draft: null };
  if (key.escape) return { ...view, filter: '', draft: null };
  // Terminals send DEL for the Backspace key, which ink reports as delete.
  if (key.backspace || key.delete) return { ...view, draft: draft.slice(0, -1) };
  if (key.ctrl || key.meta) return view;
  // A paste arrives as one input; keep its printable characters.
  const printable = [...input].filter((char) => char >= ' ' && char !== '\x7f').join('');
  return { ...view, draft: draft + printable };
}
