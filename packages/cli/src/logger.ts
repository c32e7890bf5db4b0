import { type Logger, pino } from 'pino';

/**
 * Creates the CLI's root logger: JSON lines by default, pretty-printed when stderr is a terminal.
 *
 * @param level - the minimum level to log (`info` unless `LOG_LEVEL` says otherwise)
 * @returns a pino logger writing to stderr
 * @example
 * ```ts
 * const log = createCliLogger();
 * log.info('ready');
 * ```
 */
export function createCliLogger(level: string = process.env.LOG_LEVEL ?? 'info'): Logger {
  if (process.stderr.isTTY) {
    return pino({ level, transport: { target: 'pino-pretty', options: { destination: 2 } } });
  }
  return pino({ level }, pino.destination(2));
}
