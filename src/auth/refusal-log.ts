/**
 * The log lines of refusals of who calls: no token, a bad one, a missing scope. A line for each
 * would let a caller sending thousands of bad tokens a second write thousands of lines, burying the
 * rest of the log and costing the server what it liked. The first refusal of a kind (its code and
 * RFC 6750 error) from a source in an interval is logged whole, at warn, since a client
 * misconfigured or an attack is for an operator to see; the rest are counted and said in one line
 * when the interval ends or the server stops: "N more refused from SOURCE in the last T s". Past
 * MAX_TALLIES sources and kinds in an interval (an attacker with many addresses), one count for all.
 * Refusals over a caller's quota are logged alike, at info (that caller's policy, not an alarm): a
 * client looping past its quota would write a line a call too.
 */
import type { Logger } from 'pino';
import type { AuthFailure } from './bearer.js';

/** How long the refusals of a kind from one source are counted before the count is logged. */
export const REFUSAL_LOG_INTERVAL_MS = 10_000;
/** Sources and kinds told apart in an interval: what the tallies hold at most. */
export const MAX_TALLIES = 1000;

/** The fields of a refusal's line: what it refused (method or route, request id…), its code and message. */
export type RefusalFields = { code: string; message: string } & Record<string, unknown>;

/** The level of a refusal's lines: warn for a refusal of who calls, info for one over a quota. */
export type RefusalLevel = 'warn' | 'info';

interface Tally {
  /** Where its first line went, and at what level: its count goes there too. */
  logger: Logger;
  level: RefusalLevel;
  since: number;
  /** Refusals after the first, not yet logged. */
  more: number;
  fields: { source: string; code: string; reason: string };
}

/** What a refusal is counted with: its code and RFC 6750 error, which a flood repeats whatever its token. */
export const refusalKind = (failure: AuthFailure): string => `${failure.code} ${failure.bearerError ?? 'no token'}`;

const seconds = (ms: number): number => Math.round(ms / 100) / 10;

export class RefusalLog {
  private readonly tallies = new Map<string, Tally>();
  private beyond: Tally | null = null;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly intervalMs = REFUSAL_LOG_INTERVAL_MS) {}

  /** Logs the refusal at `level` to `logger` if it is the first of its kind from `source` this interval; else counts it. */
  refused(logger: Logger, source: string, kind: string, fields: RefusalFields, level: RefusalLevel = 'warn'): void {
    const key = `${source}\n${kind}`;
    const tally = this.tallies.get(key) ?? (this.tallies.size >= MAX_TALLIES ? this.beyond : null);
    if (tally) {
      tally.more++;
      return;
    }
    this.timer ??= setInterval(() => this.flush(), this.intervalMs).unref();
    const counted = { logger, level, since: performance.now(), more: 0, fields: { source, code: fields.code, reason: fields.message } };
    if (this.tallies.size < MAX_TALLIES) {
      this.tallies.set(key, counted);
      logger[level]({ ...fields, source }, 'refused');
    } else {
      this.beyond = { ...counted, more: 1, fields: { ...counted.fields, source: `sources past the first ${MAX_TALLIES}` } };
    }
  }

  /** Logs the counts of the refusals not yet logged, and starts a new interval; an idle one stops the timer. */
  flush(): void {
    const now = performance.now();
    const tallies = [...this.tallies.values(), ...(this.beyond ? [this.beyond] : [])];
    for (const { logger, level, since, more, fields } of tallies) {
      if (more > 0)
        logger[level]({ ...fields, refused: more }, `${more} more refused from ${fields.source} in the last ${seconds(now - since)} s`);
    }
    this.tallies.clear();
    this.beyond = null;
    if (tallies.length === 0) this.stop();
  }

  /** Logs what is counted: the server stops. */
  close(): void {
    this.flush();
    this.stop();
  }

  private stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
