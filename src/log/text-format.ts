import { fstatSync } from 'node:fs';

/**
 * `--log-format text`: one line per record, `LEVEL message key=value …`,
 * for people reading `journalctl -u crion` or a terminal. A record never
 * spans lines (journald would store each line as an entry of its own), and
 * values that hold spaces, quotes or `=` are JSON-quoted so the line still
 * splits into its keys.
 *
 * Under journald the line starts with the sd-daemon priority prefix (`<6>`
 * for info) instead of a timestamp: journald stamps each entry itself and
 * `journalctl -p warning` filters on the priority.
 */

/** Set by pino on every record, or said by the line's layout already. */
const LAYOUT_KEYS = new Set(['level', 'time', 'pid', 'hostname', 'msg']);

/** sd-daemon(3)'s syslog priorities for pino's levels. */
const JOURNAL_PRIORITY: Readonly<Record<string, number>> = { fatal: 2, error: 3, warn: 4, info: 6, debug: 7, trace: 7 };

export interface TextLayout {
  /** The sd-daemon priority prefix instead of a timestamp. */
  readonly journal: boolean;
}

export function formatTextLine(record: Readonly<Record<string, unknown>>, layout: TextLayout): string {
  const level = typeof record.level === 'string' ? record.level : 'info';
  const head = layout.journal ? `<${JOURNAL_PRIORITY[level] ?? 6}>` : `${String(record.time)} `;
  const fields = Object.entries(record)
    .filter(([key, value]) => !LAYOUT_KEYS.has(key) && value !== undefined)
    .map(([key, value]) => `${key}=${textValue(key === 'err' ? errorText(value) : value)}`);
  return `${head}${level.toUpperCase().padEnd(5)} ${typeof record.msg === 'string' ? record.msg : ''}${fields.length > 0 ? ` ${fields.join(' ')}` : ''}\n`;
}

function textValue(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return /^[^\s"=\\]+$/.test(text) ? text : JSON.stringify(text);
}

/** pino serializes an error as {type, message, stack, cause…}; a line carries its message and code, the stack stays in json. */
function errorText(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  const { message, code } = value as { message?: unknown; code?: unknown };
  if (typeof message !== 'string') return value;
  return typeof code === 'string' ? `${message} (${code})` : message;
}

/**
 * True when standard error is the journal: systemd sets JOURNAL_STREAM to
 * the device and inode of the stream it connected, and a child whose stderr
 * was redirected elsewhere inherits the variable, so both must match.
 */
export function stderrIsJournal(env: NodeJS.ProcessEnv = process.env, fd = 2): boolean {
  const match = /^(\d+):(\d+)$/.exec(env.JOURNAL_STREAM ?? '');
  if (match === null) return false;
  try {
    const stat = fstatSync(fd, { bigint: true });
    return stat.dev === BigInt(match[1]!) && stat.ino === BigInt(match[2]!);
  } catch {
    return false;
  }
}
