import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Wherever a log line might carry a request's headers or metadata, its token is blanked: no line
 * written today holds one (test/integration/auth-logs.test.ts reads every line), and this keeps a
 * later `logger.info({ headers })` from leaking it.
 */
const REDACT = ['authorization', 'token', '*.authorization', '*.token', '*.headers.authorization', '*.metadata.authorization'];

/** Every logger's stream: written asynchronously, so a process that ends through _exit flushes them first (flushLogs). */
const streams: ReturnType<typeof pino.destination>[] = [];

/** JSON logs on stderr, so stdout stays free for a CLI's own output. */
export function createLogger(level: string, base: Record<string, unknown>): Logger {
  const stream = pino.destination(2);
  streams.push(stream);
  return pino({ level, base, redact: { paths: REDACT, censor: '[redacted]' } }, stream);
}

/** Writes out what the loggers still hold, now: for an exit that runs no handlers. */
export function flushLogs(): void {
  for (const stream of streams) stream.flushSync();
}
