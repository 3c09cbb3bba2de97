/**
 * Whether `ocr gateway` can reach any instance of its target, from the outcomes of its calls. Each
 * request answered 503 for want of an instance is logged at info as `refused`; the loss of every
 * instance, and the first call that reaches one again, are logged once each at warn with the reason,
 * so that an operator at `--log-level warn` sees the cluster go and come back without a line a request.
 */
import type { Logger } from 'pino';
import { DEADLINE_NO_INSTANCE, NO_SERVER_REACHED, OcrCallError } from '../client/errors.js';
import { CONSUL_GAVE_NO_INSTANCE } from '../client/resolver-consul.js';

/**
 * Why `err` says that no instance could be called (none could be connected to, or Consul gave none),
 * or null. A deadline that passed while the call waited for a connection says nothing sure: the
 * caller's timeout may have been shorter than a connection takes.
 */
export function noInstanceReason(err: unknown): string | null {
  if (!(err instanceof OcrCallError) || err.code !== 'UNAVAILABLE') return null;
  return err.details.startsWith(NO_SERVER_REACHED) || CONSUL_GAVE_NO_INSTANCE.test(err.details) ? err.details : null;
}

/**
 * Whether a call that failed with `err` was taken by an instance: one was reachable. A caller that
 * went away says nothing, nor does a deadline that passed before any instance was ready.
 */
export function reachedInstance(err: unknown): boolean {
  return err instanceof OcrCallError && err.code !== 'CANCELLED' && err.details !== DEADLINE_NO_INSTANCE && noInstanceReason(err) === null;
}

export class ClusterReach {
  /** Since when no instance could be reached (performance.now()), or null while one can. */
  private lostAt: number | null = null;

  constructor(private readonly logger: Logger) {}

  /** Whether the last call that said anything of it reached an instance (true until one reaches none). */
  get reachable(): boolean {
    return this.lostAt === null;
  }

  /** A call that succeeded. */
  reached(): void {
    if (this.lostAt === null) return;
    this.logger.warn({ unreachableMs: Math.round(performance.now() - this.lostAt) }, 'an instance of the target is reachable again');
    this.lostAt = null;
  }

  /** A call that failed with `err`. */
  failed(err: unknown): void {
    const reason = noInstanceReason(err);
    if (reason === null) {
      if (reachedInstance(err)) this.reached();
      return;
    }
    if (this.lostAt !== null) return;
    this.lostAt = performance.now();
    this.logger.warn({ reason }, 'no instance of the target can be reached: requests are answered 503 until one can');
  }
}
