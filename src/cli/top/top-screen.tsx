import { Box, renderToString, Text } from 'ink';
import type { ViewState } from './key-bindings.js';
import { arrange } from './ordering.js';
import type { ContainerRow, PodGroup, TopSnapshot } from './snapshot.js';
import { formatCpu, formatMemory } from './units.js';

/**
 * One frame of `crion top`: a header, a line for keys, the filter being
 * typed or the last refresh error, and the pods with their containers, cut
 * to the terminal's height. It only draws what it is given; top-app.tsx
 * owns the refreshing and the keys.
 */

export interface RefreshError {
  readonly at: Date;
  readonly message: string;
}

export interface TopScreenProps {
  readonly endpoint: string;
  readonly snapshot: TopSnapshot | null;
  readonly error: RefreshError | null;
  readonly view: ViewState;
  /** The terminal's columns. */
  readonly width: number;
  /** Lines the frame may take; rows past it are counted on a last line instead. */
  readonly height: number;
  /** false for a printed snapshot, which has no keys to list. */
  readonly live?: boolean;
}

/** Header, status line, column titles. */
const FIXED_LINES = 3;

/** Fixed-width columns after the name, which takes what is left of the width. */
const COLUMNS = [
  { title: 'STATE', width: 10, align: 'left' },
  { title: 'CPU', width: 8, align: 'right' },
  { title: 'MEMORY', width: 9, align: 'right' },
  { title: 'RESTARTS', width: 10, align: 'right' },
  { title: 'ID', width: 15, align: 'left' },
] as const;

type Column = (typeof COLUMNS)[number];

/** Below this width the ID column goes, leaving the name room. */
const ID_COLUMN_MIN_WIDTH = 80;

/** The texts of the fixed columns, in COLUMNS' order. */
type Cells = readonly string[];

export function TopScreen({ endpoint, snapshot, error, view, width, height, live = true }: TopScreenProps) {
  const columns = width >= ID_COLUMN_MIN_WIDTH ? COLUMNS : COLUMNS.slice(0, -1);
  const pods = snapshot === null ? [] : arrange(snapshot.pods, view);
  const lines = pods.flatMap((pod) => [podLine(pod), ...pod.containers.map((container) => containerLine(pod, container))]);
  const room = Math.max(height - FIXED_LINES, 1);
  const shown = lines.length > room ? lines.slice(0, room - 1) : lines;
  return (
    <Box flexDirection="column">
      <Header endpoint={endpoint} snapshot={snapshot} view={view} />
      {live && <StatusLine error={error} view={view} waiting={snapshot === null} />}
      <TableRow columns={columns} name="NAME" cells={columns.map((column) => column.title)} bold />
      {shown.map(({ key, ...line }) => (
        <TableRow key={key} columns={columns} {...line} />
      ))}
      {shown.length < lines.length && <Text dimColor>… {lines.length - shown.length} more rows; a filter (/) narrows the list</Text>}
    </Box>
  );
}

function Header({ endpoint, snapshot, view }: Pick<TopScreenProps, 'endpoint' | 'snapshot' | 'view'>) {
  const pods = snapshot?.pods ?? [];
  const containers = pods.flatMap((pod) => pod.containers);
  const ready = pods.filter((pod) => pod.state === 'READY').length;
  const running = containers.filter((container) => container.state === 'RUNNING').length;
  return (
    <Text wrap="truncate-end">
      <Text bold>crion top</Text> · {snapshot === null ? '--:--:--' : snapshot.at.toTimeString().slice(0, 8)} · {pods.length} pods ({ready} ready) ·{' '}
      {containers.length} containers ({running} running) · sort: <Text bold>{view.sortKey}</Text> · filter:{' '}
      {view.filter === '' ? 'none' : <Text bold>{view.filter}</Text>} · {endpoint}
    </Text>
  );
}

function StatusLine({ error, view, waiting }: { error: RefreshError | null; view: ViewState; waiting: boolean }) {
  if (view.draft !== null) {
    return (
      <Text wrap="truncate-end">
        filter: <Text inverse>{view.draft} </Text> Enter applies, Esc clears
      </Text>
    );
  }
  if (error !== null) {
    return (
      <Text color="red" wrap="truncate-end">
        refresh failed at {error.at.toTimeString().slice(0, 8)}, retrying: {error.message}
      </Text>
    );
  }
  return (
    <Text dimColor wrap="truncate-end">
      {waiting ? 'reading the daemon… ' : ''}keys: c cpu · m memory · n name · r restarts · / filter · Esc clear filter · q quit
    </Text>
  );
}

interface LineProps {
  readonly name: string;
  readonly cells: Cells;
  readonly bold?: boolean;
  readonly indent?: boolean;
}

function podLine(pod: PodGroup): LineProps & { key: string } {
  const cells: Cells = [pod.state, formatCpu(pod.nanoCores), formatMemory(pod.memoryBytes), String(pod.restarts), pod.id.slice(0, 13)];
  return { key: pod.id, name: `${pod.namespace}/${pod.name}`, cells, bold: true };
}

function containerLine(pod: PodGroup, container: ContainerRow): LineProps & { key: string } {
  const cells: Cells = [
    container.state,
    formatCpu(container.nanoCores),
    formatMemory(container.memoryBytes),
    String(container.restarts),
    container.id.slice(0, 13),
  ];
  return { key: `${pod.id}/${container.id}`, name: container.name, cells, indent: true };
}

function TableRow({ columns, name, cells, bold = false, indent = false }: LineProps & { columns: readonly Column[] }) {
  return (
    <Box>
      <Box flexGrow={1} flexShrink={1} flexBasis={0} minWidth={8} paddingLeft={indent ? 2 : 0}>
        <Text bold={bold} wrap="truncate-end">
          {name}
        </Text>
      </Box>
      {columns.map((column, index) => (
        <Box
          key={column.title}
          width={column.width}
          flexShrink={0}
          justifyContent={column.align === 'right' ? 'flex-end' : 'flex-start'}
          paddingLeft={2}
        >
          <Text bold={bold} wrap="truncate-end">
            {cells[index]}
          </Text>
        </Box>
      ))}
    </Box>
  );
}

/** `crion top --once`: the frame as plain text, every row of it, without colours when stdout is no terminal. */
export function snapshotText(endpoint: string, snapshot: TopSnapshot, view: ViewState, width: number): string {
  return `${renderToString(<TopScreen endpoint={endpoint} snapshot={snapshot} error={null} view={view} width={width} height={Infinity} live={false} />, { columns: width })}\n`;
}
