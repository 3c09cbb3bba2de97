/**
 * Quotas per caller: a rate with a burst, and calls open at once. The rate is counted by
 * rate-limiter-flexible's in-memory limiter (no dependencies, kept up, one counter and one timer
 * a caller): at most `burst` calls in a window of burst/rps seconds, which averages `rps` a second
 * over any longer span (a quota of N a second holds over 30 s within burst calls) and lets a quiet
 * caller send `burst` at once. A call counts as one, a RecognizeLines call of many line images
 * too (a page of as many lines costs the same); a tile stream, whose images are each a call's
 * worth, counts each image after its first (consume). A refusal is RESOURCE_EXHAUSTED with the time until the window ends
 * as its retry hint (grpc-retry-pushback-ms, or HTTP 429 with Retry-After). Quotas are per
 * instance: behind a balancer over N instances a caller may get up to N times its quota.
 */
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { OcrError } from '../shared/errors.js';
import { defaultBurst, mergedQuota, type Quota } from './quota-config.js';

/** The retry hint of a refusal for calls open at once: no one knows when one ends, so a short wait. */
export const CONCURRENT_RETRY_MS = 250;

/** A quota with nothing left unset that limits: burst defaulted from the rate. */
interface RateShape {
  rps: number;
  burst: number;
}

function rateShape(quota: Quota): RateShape | null {
  if (quota.rps === undefined) return null;
  return { rps: quota.rps, burst: quota.burst ?? defaultBurst(quota.rps) };
}

const fmt = (n: number): string => String(Math.round(n * 1000) / 1000);

/** How every refusal over a quota begins, followed by who: what tells one apart from a refusal for load once relayed. */
const OVER_QUOTA = 'over the quota of ';

/**
 * Whether a RESOURCE_EXHAUSTED description is a refusal over a caller's quota (a gateway relays an
 * instance's as it came): policy for that caller, logged at info wherever it is answered, where a
 * refusal for load is logged at debug, since overload brings hundreds a second.
 */
export const isOverQuota = (description: string): boolean => description.startsWith(OVER_QUOTA);

/** What a refusal over a quota is counted with in the refusal log (refusal-log.ts): whose quota, the words before its reason. */
export const overQuotaKind = (description: string): string => description.slice(0, description.indexOf(': ', OVER_QUOTA.length));

export class QuotaLimiter {
  /** One limiter per rate shape: keys share it when their quotas are alike. */
  private readonly rates = new Map<string, RateLimiterMemory>();
  private readonly open = new Map<string, number>();

  /** `defaults`: the quota of callers whose key sets none (and of every caller without a key). */
  constructor(readonly defaults: Quota = {}) {}

  /** The quota that applies: the caller's own fields over the defaults. */
  quotaOf(own: Quota | undefined): Quota {
    return mergedQuota(this.defaults, own);
  }

  /** Calls of `who` open now. */
  openCalls(who: string): number {
    return this.open.get(who) ?? 0;
  }

  /**
   * Counts one call of `who` against `quota`; resolves with the function that ends it (call it
   * once the call has ended; later calls are no-ops), or rejects with RESOURCE_EXHAUSTED.
   */
  async admit(who: string, quota: Quota): Promise<() => void> {
    const { concurrent } = quota;
    if (concurrent !== undefined) {
      const now = this.openCalls(who);
      if (now >= concurrent) {
        throw new OcrError(
          'RESOURCE_EXHAUSTED',
          `${OVER_QUOTA}${who}: ${concurrent} call${concurrent > 1 ? 's' : ''} open at once; retry when one has ended`,
          CONCURRENT_RETRY_MS,
        );
      }
    }
    // Taken before the rate is counted (which resolves later), so that calls arriving together all see it.
    this.open.set(who, this.openCalls(who) + 1);
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      const left = this.openCalls(who) - 1;
      if (left > 0) this.open.set(who, left);
      else this.open.delete(who);
    };
    try {
      await this.consume(who, quota, 1);
      return release;
    } catch (err) {
      release();
      throw err;
    }
  }

  /** Counts `points` calls of `who` against its rate; RESOURCE_EXHAUSTED with the wait until there is room. */
  async consume(who: string, quota: Quota, points: number): Promise<void> {
    const shape = rateShape(quota);
    if (!shape) return;
    try {
      await this.limiter(shape).consume(who, points);
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      const waitMs = Math.max(1, Math.ceil(err.msBeforeNext));
      throw new OcrError(
        'RESOURCE_EXHAUSTED',
        `${OVER_QUOTA}${who}: ${fmt(shape.rps)} calls a second, ${shape.burst} at most at once; retry in ${waitMs} ms`,
        waitMs,
      );
    }
  }

  private limiter({ rps, burst }: RateShape): RateLimiterMemory {
    const key = `${rps}/${burst}`;
    let limiter = this.rates.get(key);
    if (!limiter) {
      limiter = new RateLimiterMemory({ points: burst, duration: burst / rps, keyPrefix: key });
      this.rates.set(key, limiter);
    }
    return limiter;
  }
}
