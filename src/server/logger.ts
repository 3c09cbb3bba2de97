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

/** The longest an exit waits for the loggers' writes in flight (a stderr read slowly). */
const LOG_WRITES_BOUND_MS = 1000;

/**
 * Exits with `status` once the loggers have written what they hold, or have found stderr gone
 * (EPIPE), or after LOG_WRITES_BOUND_MS, their last lines flushed. sonic-boom's flushSync (flushLogs, and pino's own exit hook) retries a
 * failed write for ever unless it is EAGAIN: an exit while a line was still being written to a
 * stderr without a reader (`| pino-pretty` ended by the same Ctrl-C) never came, whatever signal
 * followed. Once a write has failed with EPIPE, pino turns the stream off and flushSync does nothing.
 * flushSync alone is no way to end at once either: it leaves the write in flight, often the last
 * line, to the thread writing it, which an _exit then cuts off. `exit`: how the process ends.
 */
export function exitAfterLogs(status: number, exit: (status: number) => void = (code) => process.exit(code)): void {
  let left = streams.length;
  let done = false;
  const finish = (): void => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    flushLogs();
    exit(status);
  };
  const timer = setTimeout(finish, LOG_WRITES_BOUND_MS);
  for (const stream of streams) {
    let settled = false;
    const settle = (): void => {
      if (settled) return;
      settled = true;
      stream.off('drain', settle);
      stream.off('error', settle);
      if (--left === 0) finish();
    };
    stream.on('drain', settle);
    stream.on('error', settle);
    try {
      // Written after what is queued: 'drain' once all of it is out, 'error' if it cannot be.
      stream.write('');
    } catch {
      settle();
    }
  }
  if (left === 0) finish();
}
