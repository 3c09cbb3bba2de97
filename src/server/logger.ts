import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON logs on stderr, so stdout stays free for a CLI's own output. */
export function createLogger(level: string, base: Record<string, unknown>): Logger {
  return pino({ level, base }, pino.destination(2));
}
