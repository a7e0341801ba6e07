import { render, useApp, useInput, useStdout } from 'ink';
import { useEffect, useReducer, useState } from 'react';
import { DaemonCallError } from '../../cri/client.js';
import { INITIAL_VIEW, pressKey, type KeyFlags, type ViewState } from './key-bindings.js';
import { fetchSnapshot, type TopSnapshot, type TopSource } from './snapshot.js';
import { TopScreen, type RefreshError } from './top-screen.js';

/**
 * The live `crion top`: a snapshot every `intervalMs` after the previous
 * one finished, the keys of key-bindings.ts, and a frame that follows the
 * terminal's size. A failed refresh is shown over the last good snapshot
 * and the next one is tried as usual.
 */

export interface TopAppProps {
  readonly source: TopSource;
  readonly endpoint: string;
  readonly intervalMs: number;
}

function TopApp({ source, endpoint, intervalMs }: TopAppProps) {
  const { exit } = useApp();
  // A reducer, so that keys typed faster than ink re-subscribes its input handler each apply to the state the last one left.
  const [{ view, quit }, press] = useReducer(applyKey, { view: INITIAL_VIEW, quit: false });
  useInput((input, key) => press({ input, key }));
  useEffect(() => {
    if (quit) exit();
  }, [quit, exit]);
  const { snapshot, error } = useSnapshots(source, intervalMs);
  const { columns, rows } = useTerminalSize();
  // One line fewer than the terminal has: ink ends a frame with a newline, which on the last line would scroll it.
  return <TopScreen endpoint={endpoint} snapshot={snapshot} error={error} view={view} width={columns} height={rows - 1} />;
}

interface KeyState {
  readonly view: ViewState;
  readonly quit: boolean;
}

function applyKey(state: KeyState, { input, key }: { input: string; key: KeyFlags }): KeyState {
  const outcome = pressKey(state.view, input, key);
  return outcome.quit ? { view: state.view, quit: true } : { view: outcome.view, quit: false };
}

interface Refreshed {
  readonly snapshot: TopSnapshot | null;
  readonly error: RefreshError | null;
}

function useSnapshots(source: TopSource, intervalMs: number): Refreshed {
  const [refreshed, setRefreshed] = useState<Refreshed>({ snapshot: null, error: null });
  useEffect(() => {
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    const refresh = async () => {
      try {
        const snapshot = await fetchSnapshot(source);
        if (!stopped) setRefreshed({ snapshot, error: null });
      } catch (error) {
        const message = refreshFailure(error);
        if (!stopped) setRefreshed((previous) => ({ snapshot: previous.snapshot, error: { at: new Date(), message } }));
      }
      if (!stopped) timer = setTimeout(() => void refresh(), intervalMs);
    };
    void refresh();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [source, intervalMs]);
  return refreshed;
}

/** The header names the daemon already, so its answer is shown without the endpoint, leaving the line to the cause. */
function refreshFailure(error: unknown): string {
  if (error instanceof DaemonCallError) return `${error.operation} failed: ${error.details}`;
  return error instanceof Error ? error.message : String(error);
}

/** ink lays out to the width by itself but does not re-render on a new height, which the row budget depends on. */
function useTerminalSize(): { columns: number; rows: number } {
  const { stdout } = useStdout();
  const [size, setSize] = useState({ columns: stdout.columns, rows: stdout.rows });
  useEffect(() => {
    const resized = () => setSize({ columns: stdout.columns, rows: stdout.rows });
    stdout.on('resize', resized);
    return () => void stdout.off('resize', resized);
  }, [stdout]);
  return size;
}

/** Runs until q or Ctrl-C; ink puts the terminal back (raw mode off, cursor shown) as it unmounts. */
export async function runTopApp(props: TopAppProps): Promise<void> {
  const instance = render(<TopApp {...props} />);
  await instance.waitUntilExit();
}
