import { pino, type DestinationStream, type Logger, type LevelWithSilent } from 'pino';
import { formatTextLine, stderrIsJournal } from './text-format.js';

export type { Logger } from 'pino';

export type LogFormat = 'json' | 'text';
export type LogLevel = Exclude<LevelWithSilent, 'silent'>;

export interface LoggerOptions {
  level: LogLevel;
  format: LogFormat;
  /** Where lines go; standard error unless a test captures them. */
  destination?: NodeJS.WritableStream;
  /** Text lines in the journal's layout; by default, when standard error is the journal. */
  journal?: boolean;
}

/**
 * Every place a registry credential or token can sit in a logged object.
 * Keys are matched at any depth we log (request bodies are logged one or two
 * levels down), so a pull request's AuthConfig never reaches the log.
 */
export const REDACTED_PATHS: readonly string[] = [
  'auth',
  'auth.*',
  '*.auth',
  '*.auth.*',
  '*.*.auth',
  '*.*.auth.*',
  'password',
  '*.password',
  '*.*.password',
  'identityToken',
  '*.identityToken',
  '*.*.identityToken',
  'registryToken',
  '*.registryToken',
  '*.*.registryToken',
  'token',
  '*.token',
  '*.*.token',
  'authorization',
  '*.authorization',
  '*.headers.authorization',
  '*.*.headers.authorization',
];

export function createLogger(options: LoggerOptions): Logger {
  const destination = options.destination ?? process.stderr;
  const stream =
    options.format === 'text'
      ? textStream(destination, { journal: options.journal ?? (options.destination === undefined && stderrIsJournal()) })
      : destination;
  return pino(
    {
      level: options.level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: [...REDACTED_PATHS], censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    stream,
  );
}

/** pino hands its destination one JSON line per record; the text format rewrites each as it passes. */
function textStream(destination: NodeJS.WritableStream, layout: { journal: boolean }): DestinationStream {
  return { write: (line) => void destination.write(formatTextLine(JSON.parse(line) as Record<string, unknown>, layout)) };
}
