import { pino, type Logger, type LevelWithSilent } from 'pino';
import pretty from 'pino-pretty';

export type { Logger } from 'pino';

export type LogFormat = 'json' | 'text';
export type LogLevel = Exclude<LevelWithSilent, 'silent'>;

export interface LoggerOptions {
  level: LogLevel;
  format: LogFormat;
  /** Where lines go; standard error unless a test captures them. */
  destination?: NodeJS.WritableStream;
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
      ? pretty({ destination, colorize: false, translateTime: 'SYS:standard', ignore: 'pid,hostname', sync: true })
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
